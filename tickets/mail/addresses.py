"""Addresses and tokens that tie an email to its ticket.

- The customer's link: a signed, expiring token bound to the reference and the customer's
  address (Django's signing), so no account is needed to read and answer a ticket.
- The reply address: ``support+BIL-7K3F9Q.<tag>@host``. The tag is an HMAC of the reference, so
  a reply finds its ticket without a database look-up and a guessed reference finds nothing.
- Message-IDs: ``<BIL-7K3F9Q.<tag>.<random>@host>`` per outbox row; every email of a ticket
  refers to the ticket's root id ``<BIL-7K3F9Q.<tag>@host>`` so mail programs thread them, and
  an ``In-Reply-To`` naming either leads back to the ticket. The tag (the reply address's HMAC)
  means a reference alone cannot be turned into an id that does.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

LINK_SALT = "tickets.customer-link"
_REPLY_SALT = "tickets.reply-address"
_TAG_LENGTH = 12
# The reference part of a reply address or Message-ID: CODE-XXXXXX (see tickets.references).
_REFERENCE = r"[A-Za-z][A-Za-z0-9]{1,5}-[A-Za-z0-9]{4,10}"
_TAGGED_LOCAL = re.compile(
    rf"\+(?P<reference>{_REFERENCE})\.(?P<tag>[0-9A-Fa-f]{{{_TAG_LENGTH}}})$"
)
# <REF.tag@host> (a ticket's thread root) or <REF.tag.<uuid>@host> (one email), where tag is the
# reply tag: knowing a reference is not enough to write an id that leads to its ticket.
_MESSAGE_ID = re.compile(
    rf"^<?(?P<reference>{_REFERENCE})\.(?P<tag>[0-9a-f]{{{_TAG_LENGTH}}})"
    rf"(?:\.[0-9a-f]{{20,32}})?(?:\.staff)?@(?P<host>[^>]+)>?$"
)


class BadLink(Exception):
    """The token was not made by us (tampered, truncated, or made with another secret)."""


class ExpiredLink(BadLink):
    """A real token, older than ``HELPDESK_CUSTOMER_LINK_DAYS``."""


@dataclass(frozen=True)
class CustomerLink:
    reference: str
    email: str  # casefolded


def _normal_email(email: str) -> str:
    return email.strip().casefold()


def customer_link_token(reference: str, email: str) -> str:
    return signing.dumps([reference, _normal_email(email)], salt=LINK_SALT, compress=True)


def read_customer_link(token: str) -> CustomerLink:
    max_age = settings.HELPDESK_CUSTOMER_LINK_DAYS * 24 * 60 * 60
    try:
        reference, email = signing.loads(token, salt=LINK_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise ExpiredLink(token) from None
    except (signing.BadSignature, ValueError, TypeError):
        # ValueError/TypeError: a valid signature over something that is not [ref, email]
        # cannot happen with our secret; a truncated base64 body can raise them.
        raise BadLink(token) from None
    if not isinstance(reference, str) or not isinstance(email, str):
        raise BadLink(token)
    return CustomerLink(reference=reference, email=email)


def customer_link_path(reference: str, email: str) -> str:
    return reverse("customer_ticket", args=[customer_link_token(reference, email)])


def absolute_url(path: str) -> str:
    return settings.HELPDESK_SITE_URL.rstrip("/") + path


def customer_link_url(reference: str, email: str) -> str:
    return absolute_url(customer_link_path(reference, email))


def _mail_host() -> str:
    return _host_of(settings.HELPDESK_REPLY_ADDRESS)


@functools.lru_cache(maxsize=16)
def _host_of(reply_address: str) -> str:
    # Cached per setting value: every outbox row (two per submission) needs it.
    _, address = parseaddr(reply_address)
    return address.rpartition("@")[2] or "localhost"


def _reply_tag(reference: str) -> str:
    return salted_hmac(_REPLY_SALT, reference.upper()).hexdigest()[:_TAG_LENGTH]


def reply_address(reference: str) -> str:
    """Where the customer's answer goes: the help desk's address, tagged with the ticket."""
    _, address = parseaddr(settings.HELPDESK_REPLY_ADDRESS)
    local, _, host = address.rpartition("@")
    return f"{local}+{reference}.{_reply_tag(reference)}@{host}"


def reference_from_reply_address(address: str) -> str | None:
    """The reference a tagged reply address carries, if its tag is ours (any letter case:
    some mail servers lower-case the local part)."""
    _, address = parseaddr(address)
    local = address.rpartition("@")[0]
    match = _TAGGED_LOCAL.search(local)
    if not match:
        return None
    reference = match.group("reference").upper()
    if not constant_time_compare(match.group("tag").lower(), _reply_tag(reference)):
        return None
    return reference


def new_message_id(reference: str | None) -> str:
    prefix = f"{reference}.{_reply_tag(reference)}." if reference else ""
    # 80 random bits: unique in practice, and short enough that the header is not folded
    # onto a second line with the usual host names.
    return f"<{prefix}{uuid.uuid4().hex[:20]}@{_mail_host()}>"


def thread_root_id(reference: str) -> str:
    return f"<{reference}.{_reply_tag(reference)}@{_mail_host()}>"


def reference_from_message_id(message_id: str) -> str | None:
    """The reference in one of our Message-IDs (a row's own or a ticket's root), if its tag is
    ours, else None. A bare ``<REF@host>`` anyone could write leads nowhere."""
    match = _MESSAGE_ID.match(message_id.strip())
    if not match or match.group("host").lower() != _mail_host().lower():
        return None
    reference = match.group("reference").upper()
    if not constant_time_compare(match.group("tag"), _reply_tag(reference)):
        return None
    return reference
