"""Take in one email piped by the mail server, as Request Tracker's rt-mailgate and osTicket's
pipe do: a Postfix alias ``support: "|/app/.venv/bin/python /app/manage.py ingest_email"``.

Exit codes are the ones mail servers act on (sysexits.h): 0 taken in or deliberately ignored,
65 (EX_DATAERR) the mail cannot be taken in and is bounced to its sender with the reason,
75 (EX_TEMPFAIL) a department database is down and the mail server delivers it again later.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tickets.mail.inbound import Kind, ingest_email, log

logger = logging.getLogger(__name__)

EX_DATAERR = 65
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = (
        "Read one email (RFC 822) on standard input and add it to its ticket or make a new "
        "ticket. Exit 65: bounced as unusable; 75: try again later."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipient",
            action="append",
            default=[],
            metavar="ADDRESS",
            help=(
                "Envelope recipient, when the mail server passes it (Postfix pipe: "
                "${original_recipient}); searched for a reply tag and a department address "
                "like To and Cc. Repeatable."
            ),
        )
        parser.add_argument(
            "--sender",
            default=None,
            metavar="ADDRESS",
            help="Envelope sender (Postfix pipe: ${sender}); empty means a bounce.",
        )

    def handle(self, *args, recipient, sender, **options):
        # One byte over the limit is enough to know it is too large; the rest is never read.
        raw = sys.stdin.buffer.read(settings.HELPDESK_INBOUND_MAX_BYTES + 1)
        try:
            outcome = ingest_email(raw, envelope_recipients=recipient, envelope_sender=sender)
        except Exception as exc:
            # Ours, not the mail's (a bug, the cache or the system database down): any exit
            # code outside sysexits bounces the mail for good, with a traceback in the bounce.
            # 75 keeps it queued at the mail server; the detail goes to our log only.
            logger.exception("inbound email not taken in")
            raise CommandError(
                "Deferred: the help desk could not take in this email now; deliver again later",
                returncode=EX_TEMPFAIL,
            ) from exc
        # A failure's record is the one line on stderr, which the mail server logs and puts in
        # the bounce; mail taken in or ignored is also logged, as the webhook logs it.
        if outcome.kind == Kind.REJECTED:
            raise CommandError(str(outcome), returncode=EX_DATAERR)
        if outcome.kind == Kind.DEFERRED:
            raise CommandError(str(outcome), returncode=EX_TEMPFAIL)
        log(outcome)
        style = self.style.WARNING if outcome.kind == Kind.IGNORED else self.style.SUCCESS
        self.stdout.write(style(str(outcome)))
