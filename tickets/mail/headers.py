"""Reading the headers of a received email: decoded text, the sender, the recipients, and
whether a machine wrote it (so it must never be answered)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from django.conf import settings

from departments.registry import all_departments
from tickets.mail.body import clean_text

_LOOP_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_SYSTEM_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_AUTOMATED_REPORTS = frozenset({"delivery-status", "disposition-notification"})


def header_text(message: Message, name: str) -> str:
    """A header's value as text: RFC 2047 words decoded, on one line, storable."""
    values = message.get_all(name) or []
    texts = []
    for value in values:
        try:
            text = str(make_header(decode_header(str(value))))
        except (LookupError, UnicodeError, ValueError, TypeError, AssertionError):
            text = str(value)
        texts.append(text)
    return clean_text(" ".join(" ".join(texts).split()))


def from_pairs(message: Message) -> list[tuple[str, str]]:
    """The From header's (display name, address) pairs.

    The addresses are parsed from the header as sent and only the names are decoded: decoding
    RFC 2047 words first lets an encoded display name such as "Victim <victim@bank.example>"
    stand in for the address that SPF/DKIM/DMARC checked (Mailsploit).
    """
    raw = [str(value) for value in (message.get_all("From") or [])]
    pairs = []
    for name, address in getaddresses(raw):
        if not (name or address):
            continue
        with contextlib.suppress(LookupError, UnicodeError, ValueError, TypeError, AssertionError):
            name = str(make_header(decode_header(name)))
        pairs.append((" ".join(clean_text(name).split()), address.strip()))
    return pairs


def sender_of(message: Message) -> str:
    """The one From address, or ``""`` (none, or more than one)."""
    pairs = from_pairs(message)
    return pairs[0][1] if len(pairs) == 1 else ""


def addresses_in(message: Message, names: Iterable[str]) -> list[str]:
    raw = [str(value) for name in names for value in (message.get_all(name) or [])]
    return [address for _, address in getaddresses(raw) if "@" in address]


def one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def loop_reason(message: Message, envelope_sender: str | None) -> str:
    """Why this mail was written by a machine (and must never be answered), or ``""``.

    RFC 3834's Auto-Submitted, the older Precedence and X-Autoreply/X-Autorespond headers,
    and bounces (RFC 3464 reports, the null sender, MAILER-DAEMON and postmaster).
    """
    auto = header_text(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"automatic mail (Auto-Submitted: {one_line(auto, 40)})"
    precedence = header_text(message, "Precedence").strip().lower()
    if precedence in _LOOP_PRECEDENCE:
        return f"automatic mail (Precedence: {precedence})"
    for name in ("X-Autoreply", "X-Autorespond"):
        if message.get(name) is not None:
            return f"auto-reply ({name})"
    # Every email we send carries X-Loop with our reply address (tickets.mail.compose): this is
    # one of ours coming back (an auto-responder or forward rule that kept the headers).
    own = _ownaddresses_in()
    for value in message.get_all("X-Loop") or []:
        if parseaddr(str(value))[1].strip().lower() in own:
            return "mail loop (X-Loop: our own address)"
    if message.get_content_type() == "multipart/report":
        report = str(message.get_param("report-type") or "").lower()
        if report in _AUTOMATED_REPORTS:
            return f"automatic report ({report})"
    return_path = message.get_all("Return-Path") or []
    if envelope_sender == "" or any(str(value).strip() == "<>" for value in return_path):
        return "bounce (empty return path)"
    sender = sender_of(message)
    if sender.rpartition("@")[0].lower() in _SYSTEM_SENDERS:
        return f"bounce (from {sender.rpartition('@')[0]})"
    if sender and sender.lower() in own:
        return "sent by this help desk"
    return ""


def _ownaddresses_in() -> set[str]:
    own = {settings.HELPDESK_REPLY_ADDRESS, settings.DEFAULT_FROM_EMAIL}
    own.update(d.email for d in all_departments())
    return {parseaddr(a)[1].lower() for a in own if a}
