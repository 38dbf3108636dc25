"""The one place that knows which departments exist.

A department is a ``DATABASES`` alias ending in ``_department``. Labels and reference codes come
from ``settings.DEPARTMENTS`` (filled from the environment) or are derived from the alias.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from departments.config import ALIAS_SUFFIX, CODE_PATTERN, derive_code, derive_label


class UnknownDepartment(LookupError):
    """No department has the slug, alias or code asked for."""


@dataclass(frozen=True, order=True)
class Department:
    slug: str  # URL- and form-facing, e.g. account-billing
    label: str  # for people, e.g. Account & Billing
    alias: str  # DATABASES key, e.g. account_billing_department
    code: str  # reference prefix, e.g. BIL
    email: str = ""  # its support address (<NAME>_DEPARTMENT_EMAIL), if it has one

    def __str__(self) -> str:
        return self.label


def is_department_alias(alias: str) -> bool:
    return alias.endswith(ALIAS_SUFFIX) and alias != ALIAS_SUFFIX


class Registry:
    """Departments in a stable order (configuration order), indexed by slug, alias and code."""

    def __init__(self, departments: list[Department]):
        self._ordered = tuple(departments)
        self.by_slug = {d.slug: d for d in departments}
        self.by_alias = {d.alias: d for d in departments}
        self.by_code = {d.code: d for d in departments}

    @classmethod
    def from_settings(cls) -> Registry:
        metadata = getattr(settings, "DEPARTMENTS", {})
        departments: list[Department] = []
        slugs: dict[str, str] = {}
        codes: dict[str, str] = {}
        for alias in settings.DATABASES:
            if not is_department_alias(alias):
                continue
            name = alias[: -len(ALIAS_SUFFIX)]
            meta = metadata.get(alias, {})
            slug = name.lower().replace("_", "-")
            code = meta.get("code") or derive_code(name.upper())
            origin = meta.get("variable", f"DATABASES[{alias!r}]")
            if slug in slugs:
                raise ImproperlyConfigured(
                    f"{origin}: department slug {slug!r} is also used by {slugs[slug]}."
                )
            if code in codes:
                raise ImproperlyConfigured(
                    f"{origin}: reference code {code!r} is also used by {codes[code]}."
                )
            if not CODE_PATTERN.match(code):
                raise ImproperlyConfigured(f"{origin}: reference code {code!r} is not valid.")
            slugs[slug] = codes[code] = origin
            departments.append(
                Department(
                    slug=slug,
                    label=meta.get("label") or derive_label(name.upper()),
                    alias=alias,
                    code=code,
                    email=meta.get("email", ""),
                )
            )
        return cls(departments)

    def __iter__(self) -> Iterator[Department]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    def get(self, slug: str) -> Department:
        try:
            return self.by_slug[slug]
        except KeyError:
            raise UnknownDepartment(slug) from None

    def for_alias(self, alias: str) -> Department:
        try:
            return self.by_alias[alias]
        except KeyError:
            raise UnknownDepartment(alias) from None

    def for_code(self, code: str) -> Department:
        try:
            return self.by_code[code.upper()]
        except KeyError:
            raise UnknownDepartment(code) from None

    @property
    def aliases(self) -> list[str]:
        return [d.alias for d in self._ordered]

    def choices(self) -> list[tuple[str, str]]:
        return [(d.slug, d.label) for d in self._ordered]


@cache
def registry() -> Registry:
    return Registry.from_settings()


def all_departments() -> list[Department]:
    return list(registry())


def get_department(slug: str) -> Department:
    return registry().get(slug)


@receiver(setting_changed)
def _reset_on_settings_change(*, setting: str, **kwargs) -> None:
    # override_settings(DATABASES=..., DEPARTMENTS=...) in tests must see fresh departments.
    if setting in {"DATABASES", "DEPARTMENTS"}:
        registry.cache_clear()
