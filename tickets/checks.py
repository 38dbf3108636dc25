"""Deployment checks (`manage.py check --deploy`) for what emails carry out of the site."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


@register(Tags.security, deploy=True)
def email_addresses_check(app_configs, **kwargs) -> list[Warning]:
    """The development defaults would send customers links and reply addresses that lead
    nowhere outside this machine."""
    found = []
    site = urlsplit(settings.HELPDESK_SITE_URL)
    if site.scheme not in {"http", "https"} or (site.hostname or "") in _LOCAL_HOSTS:
        found.append(
            Warning(
                f"HELPDESK_SITE_URL is {settings.HELPDESK_SITE_URL!r}: the links in emails "
                "(customers' ticket pages, staff notifications) would not open anywhere else.",
                hint="Set HELPDESK_SITE_URL to the address people reach the site at, "
                "e.g. https://help.example.com.",
                id="helpdesk.W010",
            )
        )
    reply_host = parseaddr(settings.HELPDESK_REPLY_ADDRESS)[1].rpartition("@")[2].lower()
    if not reply_host or reply_host in _LOCAL_HOSTS:
        found.append(
            Warning(
                f"HELPDESK_REPLY_ADDRESS is {settings.HELPDESK_REPLY_ADDRESS!r}: customers' "
                "replies to emails would not reach the help desk.",
                hint="Set HELPDESK_REPLY_ADDRESS to the address your mail server pipes to "
                "`manage.py ingest_email` (or your provider's inbound webhook).",
                id="helpdesk.W011",
            )
        )
    return found
