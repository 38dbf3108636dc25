"""Deployment checks (`manage.py check --deploy`) for what the abuse limits rely on."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = ("LocMemCache", "DummyCache")
# Neither incr nor add is atomic: parallel requests could take more than a limit allows.
NON_ATOMIC_CACHES = ("FileBasedCache",)


@register(Tags.security, deploy=True)
def shared_cache_check(app_configs, **kwargs) -> list[Warning]:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend.endswith(NON_ATOMIC_CACHES):
        return [
            Warning(
                f"The default cache ({backend.rsplit('.', 1)[-1]}) cannot reserve an attempt "
                "atomically, so parallel requests may exceed the abuse limits.",
                hint="Use CACHE_URL=redis://host:6379/1, or dbcache://helpdesk_cache.",
                id="helpdesk.W002",
            )
        ]
    if not backend.endswith(PER_PROCESS_CACHES):
        return []
    return [
        Warning(
            f"The default cache ({backend.rsplit('.', 1)[-1]}) is not shared between worker "
            "processes, so submission rate limits and sign-in throttling count per process.",
            hint="Set CACHE_URL=dbcache://helpdesk_cache and run `manage.py createcachetable`, "
            "or CACHE_URL=redis://host:6379/1.",
            id="helpdesk.W001",
        )
    ]
