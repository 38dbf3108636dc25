"""Every URL pattern of the project as a concrete URL, for tests that walk them all."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern

_ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
# An optional unnamed group, such as anymail's ``^mailgun/inbound(_mime)?/$``: left out.
_OPTIONAL_GROUP = re.compile(r"\((?!\?P<)[^)]*\)\?")


@dataclass(frozen=True)
class ConcreteURL:
    path: str
    pattern: URLPattern
    namespace: str

    @property
    def name(self) -> str:
        return f"{self.namespace}:{self.pattern.name}" if self.namespace else str(self.pattern.name)


def _fill(pattern, samples: dict[str, str]) -> str:
    def sample(match: re.Match) -> str:
        name = match.group(1)
        if name not in samples:
            raise KeyError(f"no sample value for URL parameter {name!r} in {pattern}")
        return str(samples[name])

    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        text = _OPTIONAL_GROUP.sub("", text)
        return _REGEX_GROUP.sub(sample, text).lstrip("^").rstrip("$")
    return _ROUTE_PARAM.sub(sample, text)


def sample_parameters(*, user, department, ticket) -> dict[str, str]:
    """Values for every URL parameter the project's patterns take (the admin's included)."""
    from django.contrib.contenttypes.models import ContentType

    from tickets.mail.addresses import customer_link_token

    return {
        "object_id": user.pk,
        "id": user.pk,
        "content_type_id": ContentType.objects.get_for_model(type(user)).pk,
        "app_label": "accounts",
        "url": "nowhere/",
        "department": department.slug,
        "ticket_id": ticket.pk,
        "attachment_id": 1,
        "reference": ticket.reference,
        "token": customer_link_token(ticket.reference, ticket.customer_email),
    }


def concrete_urls(samples: dict[str, str]) -> list[ConcreteURL]:
    """One URL per pattern, parameters filled from ``samples``; each checked to resolve back
    to its own view, so the walk cannot silently skip one."""
    found: list[ConcreteURL] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            path = prefix + _fill(entry.pattern, samples)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, path, entry.namespace or namespace)
            else:
                found.append(ConcreteURL("/" + path, entry, namespace))

    walk(get_resolver().url_patterns, "", "")
    for url in found:
        assert resolve(url.path).func is url.pattern.callback, url
    return found
