"""The dashboard's filters: a form whose valid values become the engine's ``TicketFilters``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from accounts.selectors import assignable_staff
from departments.registry import Department
from runtime.jinja2 import form_renderer
from tickets.dashboard import TicketFilters
from tickets.models import Priority, Status

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "none"
MSG_DATE_ORDER = "The 'to' date must be on or after the 'from' date."
SEARCH_MAX_LENGTH = 200
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FilterProblem:
    """A filter the dashboard does not apply: its label, why, and what the user entered."""

    label: str
    message: str
    entered: str


class DashboardFilterForm(forms.Form):
    """The dashboard's filters: a plain form, validated here and applied by the engine
    (``ticket_filters()``), since no single queryset spans the department databases."""

    default_renderer = form_renderer  # on every dashboard page: widgets render through Jinja2

    department = forms.MultipleChoiceField(
        label="Department",
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    status = forms.MultipleChoiceField(
        label="Status",
        required=False,
        choices=Status.choices,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    priority = forms.ChoiceField(
        label="Priority", required=False, choices=[("", "Any priority"), *Priority.choices]
    )
    assignee = forms.ChoiceField(label="Assignee", required=False)
    created_from = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label="Created to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Reference, email, name or subject"}
        ),
    )
    per_page = forms.ChoiceField(
        label="Rows per page",
        required=False,
        initial=str(DEFAULT_PAGE_SIZE),  # unbound, it shows the size the table uses
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
    )

    def __init__(self, data=None, *, departments: list[Department], user):
        super().__init__(data)
        self.departments = departments
        self.user = user
        self.fields["department"].choices = [(d.slug, d.label) for d in departments]
        self.fields["assignee"].choices = [("", "Anyone"), *assignee_choices(departments, user)]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and end < start:
            self.add_error("created_to", MSG_DATE_ORDER)
        return cleaned

    def valid_values(self) -> dict:
        """The cleaned values of the fields that validated; invalid ones are left out."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if k not in self.errors}

    def problems(self) -> list[FilterProblem]:
        """Every filter that did not validate, as the dashboard's error summary lists them."""
        if not self.is_bound or self.is_valid():
            return []
        found = []
        for name, errors in self.errors.items():
            field = self[name] if name in self.fields else None
            value = field.value() if field is not None else None
            entered = ", ".join(value) if isinstance(value, list | tuple) else str(value or "")
            label = str(field.label) if field is not None else ""
            found += [FilterProblem(label, str(error), entered) for error in errors]
        return found

    def selected_departments(self) -> list[Department]:
        wanted = set(self.valid_values().get("department") or ())
        if not wanted:
            return list(self.departments)
        return [d for d in self.departments if d.slug in wanted]

    def ticket_filters(self) -> TicketFilters:
        values = self.valid_values()
        assignee = values.get("assignee") or ""
        assignee_id = None
        if assignee == ASSIGNEE_ME:
            assignee_id = self.user.pk
        elif assignee and assignee != ASSIGNEE_NONE:
            assignee_id = int(assignee)  # a validated choice: str() of a staff id
        created_from = values.get("created_from")
        created_to = values.get("created_to")
        return TicketFilters(
            statuses=tuple(s for s in Status.values if s in set(values.get("status") or ())),
            priorities=(int(values["priority"]),) if values.get("priority") else (),
            assignee_id=assignee_id,
            unassigned=assignee == ASSIGNEE_NONE,
            created_from=_start_of(created_from) if created_from else None,
            created_before=_start_of_next(created_to) if created_to else None,
            search=(values.get("q") or "").strip(),
        )

    def page_size(self) -> int:
        value = self.valid_values().get("per_page")
        return int(value) if value else DEFAULT_PAGE_SIZE

    @property
    def active(self) -> bool:
        """Any filter other than the page size is set."""
        return any(value for name, value in self.valid_values().items() if name not in {"per_page"})


def _start_of(day: date) -> datetime:
    """Midnight at the start of ``day`` in the current time zone, as UTC.

    Clamped rather than refused: midnight of 0001-01-01 east of UTC, or of 9999-12-31 west of
    it, has no UTC time a datetime can hold, and the first or last one it can holds selects the
    same tickets. A date the calendar accepts is a date a user may pick.
    """
    start = timezone.make_aware(datetime.combine(day, time.min))
    try:
        return start.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if day.year == date.min.year else _LATEST


def _start_of_next(day: date) -> datetime | None:
    """The end (exclusive) of ``day``; None (no bound) for the calendar's last day."""
    return None if day == date.max else _start_of(day + timedelta(days=1))


def assignee_choices(departments: list[Department], user) -> list[tuple[str, str]]:
    """Anyone who can hold tickets in ``departments``: their members and the superadmins."""
    choices = [(ASSIGNEE_ME, "Me"), (ASSIGNEE_NONE, "Unassigned")]
    # The staff version the sign-in backend read for this request, if it did: one cache read.
    version = getattr(user, "staff_version", None)
    staff = assignable_staff((d.slug for d in departments), version=version)
    choices += [(str(pk), name) for pk, name in staff if pk != user.pk]
    return choices
