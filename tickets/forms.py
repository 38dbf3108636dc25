"""Forms for the public pages (submit, check status) and for staff working a ticket.

Plain forms, not ModelForms: a ticket is only ever written through ``tickets.services``, and the
department a form names decides which database that is. Limits mirror the model's columns so a
valid form never fails in the database.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError

from departments.registry import Department, UnknownDepartment, registry
from runtime.jinja2 import form_renderer
from tickets.attachments.fields import AttachmentsField, AttachmentsFormMixin
from tickets.models import Message, Priority, Status, Ticket
from tickets.references import InvalidReference, normalize_reference

NAME_MAX = Ticket._meta.get_field("customer_name").max_length
EMAIL_MAX = Ticket._meta.get_field("customer_email").max_length
PHONE_MAX = Ticket._meta.get_field("customer_phone").max_length
SUBJECT_MAX = Ticket._meta.get_field("subject").max_length
MESSAGE_MAX = Ticket._meta.get_field("message").max_length
NOTE_MAX = Message._meta.get_field("body").max_length

MSG_NAME_REQUIRED = "Enter your name."
MSG_NAME_TOO_LONG = f"Your name must be {NAME_MAX} characters or fewer."
MSG_EMAIL_REQUIRED = "Enter your email address, so we can reply."
MSG_EMAIL_INVALID = "Enter an email address in the right format, like name@example.com."
MSG_EMAIL_TOO_LONG = f"The email address must be {EMAIL_MAX} characters or fewer."
MSG_PHONE_INVALID = (
    "Enter a phone number using digits, spaces and + - ( ) only, like +44 20 7946 0958."
)
MSG_PHONE_TOO_LONG = f"The phone number must be {PHONE_MAX} characters or fewer."
MSG_DEPARTMENT_REQUIRED = "Choose the department your question is about."
MSG_SUBJECT_REQUIRED = "Enter a subject."
MSG_SUBJECT_TOO_LONG = f"The subject must be {SUBJECT_MAX} characters or fewer."
MSG_MESSAGE_REQUIRED = "Describe your question or problem."
MSG_MESSAGE_TOO_LONG = (
    f"The message must be {MESSAGE_MAX:,} characters or fewer (it has %(show_value)s characters)."
)
MSG_REFERENCE_REQUIRED = "Enter the reference from your confirmation."
MSG_REFERENCE_INVALID = (
    "Enter the reference exactly as shown on your confirmation, like BIL-7K3F9Q."
)
MSG_FORM_EXPIRED = (
    "This form was opened too long ago to send. Everything you typed is still below: "
    "please check it and send it again."
)
MSG_FORM_NOT_RECOGNISED = (
    "We could not recognise this form. Everything you typed is still below: "
    "please check it and send it again."
)
MSG_NOTE_TOO_LONG = (
    f"The message must be {NOTE_MAX:,} characters or fewer (it has %(show_value)s characters)."
)
MSG_CHOOSE_SEND = (
    "Choose how to send what you wrote: Send reply to customer, or Add internal note (staff only)."
)
MSG_WRITE_REPLY = "Write the reply to the customer first."
MSG_WRITE_NOTE = "Write the internal note first."
MSG_REPLY_REQUIRED = "Write your reply."
MSG_UNKNOWN_ASSIGNEE = "Choose someone from the list."
MSG_FILES_NEED_MESSAGE = (
    "Files go with a reply or a note: write one and press Send reply or Add internal note."
)

# Digits with the usual separators, and an optional extension ("x12", "ext. 12").
_PHONE = re.compile(r"^\+?[0-9 ()./-]+(?:\s*(?:x|ext\.?)\s*[0-9]+)?$", re.IGNORECASE)


# Every load of the submission form carries a new one-time token (see ticket_create). Signed, so
# the server keeps nothing until a ticket is made; a day covers a form left open overnight.
SUBMISSION_TOKEN_MAX_AGE = timedelta(days=1)
_SUBMISSION_TOKEN_SALT = "tickets.forms.submission-token"


def submission_token_new() -> str:
    """A fresh signed one-time token for one load of the submission form."""
    signer = signing.TimestampSigner(salt=_SUBMISSION_TOKEN_SALT)
    return signer.sign(secrets.token_urlsafe(16))


def submission_token_read(token: str) -> str:
    """The random part of a token this site signed; raises ``signing.BadSignature`` (or its
    subclass ``SignatureExpired``) for anything else."""
    signer = signing.TimestampSigner(salt=_SUBMISSION_TOKEN_SALT)
    return signer.unsign(token, max_age=SUBMISSION_TOKEN_MAX_AGE)


def _text(*, label, max_length, required_msg, too_long_msg, **kwargs) -> forms.CharField:
    field = forms.CharField(label=label, max_length=max_length, **kwargs)
    field.error_messages.update({"required": required_msg, "max_length": too_long_msg})
    return field


def _reference_field(**kwargs) -> forms.CharField:
    return forms.CharField(
        label="Ticket reference",
        max_length=32,
        error_messages={"required": MSG_REFERENCE_REQUIRED, "max_length": MSG_REFERENCE_INVALID},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
        **kwargs,
    )


def _email_field(**kwargs) -> forms.EmailField:
    return forms.EmailField(
        label="Email address",
        max_length=EMAIL_MAX,
        error_messages={
            "required": MSG_EMAIL_REQUIRED,
            "invalid": MSG_EMAIL_INVALID,
            "max_length": MSG_EMAIL_TOO_LONG,
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        **kwargs,
    )


def _clean_reference(text: str) -> str:
    try:
        return normalize_reference(text)
    except InvalidReference:
        raise ValidationError(MSG_REFERENCE_INVALID, code="invalid") from None


class TicketSubmissionForm(AttachmentsFormMixin, forms.Form):
    """What a customer (or an agent on the phone for one) fills in to open a ticket."""

    default_renderer = form_renderer  # a hot form: its widgets render through Jinja2

    name = _text(
        label="Your name",
        max_length=NAME_MAX,
        required_msg=MSG_NAME_REQUIRED,
        too_long_msg=MSG_NAME_TOO_LONG,
        widget=forms.TextInput(attrs={"autocomplete": "name", "spellcheck": "false"}),
    )
    email = _email_field(
        help_text="We reply to this address. You need it, with your reference, to check status."
    )
    phone = forms.CharField(
        label="Phone number (optional)",
        max_length=PHONE_MAX,
        required=False,
        help_text="Only if you would like us to call you back.",
        error_messages={"max_length": MSG_PHONE_TOO_LONG},
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    department = forms.ChoiceField(
        label="Which department is it for?",
        widget=forms.RadioSelect,
        error_messages={
            "required": MSG_DEPARTMENT_REQUIRED,
            "invalid_choice": MSG_DEPARTMENT_REQUIRED,
        },
    )
    subject = _text(
        label="Subject",
        max_length=SUBJECT_MAX,
        required_msg=MSG_SUBJECT_REQUIRED,
        too_long_msg=MSG_SUBJECT_TOO_LONG,
        help_text="A few words, like “Charged twice for one order”.",
    )
    message = _text(
        label="Message",
        max_length=MESSAGE_MAX,
        required_msg=MSG_MESSAGE_REQUIRED,
        too_long_msg=MSG_MESSAGE_TOO_LONG,
        help_text="What happened, what you expected, and anything you have tried.",
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    attachments = AttachmentsField(label="Attach files (optional)")
    # Not required here: a missing token gets the same clear message as a tampered one.
    submission_token = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at form time, not import time: the registry follows the configuration.
        self.fields["department"].choices = registry().choices()
        if not self.is_bound:
            self.initial["submission_token"] = submission_token_new()

    def clean_submission_token(self) -> str:
        """The token's random part. A re-shown form keeps a good token (no ticket was made,
        so sending again stays idempotent) and replaces a bad one, so sending again works."""
        try:
            return submission_token_read(self.cleaned_data["submission_token"])
        except signing.SignatureExpired:
            message = MSG_FORM_EXPIRED
        except signing.BadSignature:
            message = MSG_FORM_NOT_RECOGNISED
        self.data = self.data.copy()
        self.data[self.add_prefix("submission_token")] = submission_token_new()
        raise ValidationError(message, code="submission_token")

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"]
        if phone and (not _PHONE.match(phone) or sum(c.isdigit() for c in phone) < 5):
            raise ValidationError(MSG_PHONE_INVALID, code="invalid")
        return phone

    def clean_department(self) -> Department:
        try:
            return registry().get(self.cleaned_data["department"])
        except UnknownDepartment:
            raise ValidationError(MSG_DEPARTMENT_REQUIRED, code="invalid_choice") from None


class StatusLookupForm(forms.Form):
    """A customer proves a ticket is theirs with its reference and the email it was sent from."""

    reference = _reference_field(help_text="It is on your confirmation page, like BIL-7K3F9Q.")
    email = _email_field(help_text="The address you gave when you submitted the ticket.")

    def clean_reference(self) -> str:
        return _clean_reference(self.cleaned_data["reference"])


class FindTicketForm(forms.Form):
    """The staff "go to reference" box in the header."""

    reference = _reference_field()

    def clean_reference(self) -> str:
        return _clean_reference(self.cleaned_data["reference"])


def staff_label(user) -> str:
    name = user.get_full_name() or user.get_username()
    return name if user.is_active else f"{name} (account disabled)"


class SendAs:
    """Which button sent the staff form: it decides who reads what was written."""

    REPLY = "reply"  # emailed to the customer and shown on their page
    NOTE = "note"  # staff only
    SAVE = "save"  # status, priority, assignee only


class TicketUpdateForm(AttachmentsFormMixin, forms.Form):
    """One form for everything staff do to a ticket: status, priority, assignee, and a public
    reply or an internal note, chosen by the button pressed (never by a default).

    ``version`` is the ticket version the page showed; the service refuses the save if the
    ticket has changed since.
    """

    default_renderer = form_renderer  # a hot form: its widgets render through Jinja2

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    status = forms.ChoiceField(label="Status", choices=Status.choices, widget=forms.Select)
    priority = forms.TypedChoiceField(
        label="Priority", choices=Priority.choices, coerce=int, widget=forms.Select
    )
    assignee = forms.ChoiceField(
        label="Assigned to",
        required=False,
        widget=forms.Select,
        error_messages={"invalid_choice": MSG_UNKNOWN_ASSIGNEE},
    )
    body = forms.CharField(
        label="Reply or internal note",
        required=False,
        max_length=NOTE_MAX,
        strip=False,  # kept as typed when the form comes back; the service trims it
        error_messages={"max_length": MSG_NOTE_TOO_LONG},
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    attachments = AttachmentsField(label="Attach files to the reply or note (optional)")
    send = forms.ChoiceField(
        required=False,
        choices=[(SendAs.REPLY, "reply"), (SendAs.NOTE, "note"), (SendAs.SAVE, "save")],
        widget=forms.HiddenInput,  # the pressed button's value; never rendered as a field
        error_messages={"invalid_choice": MSG_CHOOSE_SEND},
    )

    def __init__(self, *args, staff, current_assignee=None, **kwargs):
        """``staff``: who may be assigned; ``current_assignee`` stays choosable even if they
        no longer qualify, so saving an unrelated change does not fail on them."""
        super().__init__(*args, **kwargs)
        people = {user.pk: user for user in staff}
        if current_assignee is not None:
            people.setdefault(current_assignee.pk, current_assignee)
        self._people = people
        self.fields["assignee"].choices = [("", "Nobody (unassigned)")] + [
            (str(pk), staff_label(user)) for pk, user in people.items()
        ]

    def clean_assignee(self):
        value = self.cleaned_data["assignee"]
        return self._people[int(value)] if value else None

    def clean(self):
        data = super().clean()
        body = (data.get("body") or "").strip()
        send = data.get("send")
        data["reply"] = data["note"] = ""
        if "body" not in data or "send" not in data:
            return data
        if send == SendAs.REPLY:
            if not body:
                self.add_error("body", MSG_WRITE_REPLY)
            data["reply"] = body
        elif send == SendAs.NOTE:
            if not body:
                self.add_error("body", MSG_WRITE_NOTE)
            data["note"] = body
        elif body:
            # Text with no explicit choice is never sent anywhere: ask.
            self.add_error("body", MSG_CHOOSE_SEND)
        if data.get("attachments") and send not in (SendAs.REPLY, SendAs.NOTE):
            self.add_error("attachments", MSG_FILES_NEED_MESSAGE)
        return data

    @classmethod
    def initial_for(cls, ticket: Ticket, **extra) -> dict:
        return {
            "version": ticket.version,
            "status": ticket.status,
            "priority": ticket.priority,
            "assignee": str(ticket.assignee_id or ""),
            **extra,
        }


class CustomerReplyForm(AttachmentsFormMixin, forms.Form):
    """The customer's answer on their ticket page. The one-time token makes a double click
    one message (see tickets.conversation)."""

    default_renderer = form_renderer

    body = _text(
        label="Your reply",
        max_length=NOTE_MAX,
        required_msg=MSG_REPLY_REQUIRED,
        too_long_msg=MSG_NOTE_TOO_LONG,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    attachments = AttachmentsField(label="Attach files (optional)")
    reply_token = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("reply_token", submission_token_new())

    def clean_reply_token(self) -> str:
        token = self.cleaned_data["reply_token"]
        try:
            return submission_token_read(token)
        except signing.BadSignature:
            # No usable token: still one reply, just without double-click protection.
            return ""


class LinkRequestForm(forms.Form):
    """Ask for a fresh link to one's ticket by email (the answer never says if it matched)."""

    default_renderer = form_renderer

    reference = _reference_field()
    email = _email_field()

    def clean_reference(self) -> str:
        return _clean_reference(self.cleaned_data["reference"])
