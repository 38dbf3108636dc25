"""The dashboard's filters.

The FilterSet describes and validates the filter fields (its ``.form``); the cross-department
engine applies them, since no single queryset spans department databases.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django import forms
from django.http import QueryDict
from django.utils import timezone

from accounts.selectors import assignable_staff
from departments.registry import Department
from tickets.dashboard import TicketFilters
from tickets.models import Priority, Status, Ticket
from tickets.widgets import DateInput, Select, SelectMultiple, TextInput

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
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and end < start:
            self.add_error("created_to", MSG_DATE_ORDER)
        return cleaned


class DashboardFilter(django_filters.FilterSet):
    department = django_filters.MultipleChoiceFilter(
        label="Department",
        choices=(),
        widget=SelectMultiple(attrs={"size": 5}),
    )
    status = django_filters.MultipleChoiceFilter(
        label="Status",
        choices=Status.choices,
        widget=SelectMultiple(attrs={"size": 5}),
    )
    priority = django_filters.ChoiceFilter(
        label="Priority", choices=Priority.choices, empty_label="Any priority", widget=Select
    )
    assignee = django_filters.ChoiceFilter(
        label="Assignee", choices=(), empty_label="Anyone", widget=Select
    )
    created_from = django_filters.DateFilter(
        label="Created from", widget=DateInput(attrs={"type": "date"})
    )
    created_to = django_filters.DateFilter(
        label="Created to", widget=DateInput(attrs={"type": "date"})
    )
    q = django_filters.CharFilter(
        label="Search",
        max_length=SEARCH_MAX_LENGTH,
        widget=TextInput(
            attrs={"type": "search", "placeholder": "Reference, email, name or subject"}
        ),
    )
    per_page = django_filters.ChoiceFilter(
        label="Rows per page",
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
        empty_label=None,
        widget=Select,
    )

    class Meta:
        form = DashboardFilterForm
        fields: tuple[str, ...] = ()

    def __init__(self, data=None, *, departments: list[Department], user, request=None):
        # FilterSet.__init__ would deep-copy every filter, with the form field cached on it, for
        # every request (a twentieth of a dashboard page's Python calls) so that filtering can
        # set per-request state on them. Nothing here filters a queryset (the engine applies
        # ticket_filters()); only .form is used, so the class's filters are shared, unchanged.
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = Ticket.objects.none()
        self.request = request
        self.form_prefix = None
        self.filters = self.base_filters
        self.departments = departments
        self.user = user
        # The user's choices go on this form's own fields (deep copies of the class's).
        fields = self.form.fields
        fields["department"].choices = [(d.slug, d.label) for d in departments]
        fields["assignee"].choices = assignee_choices(departments, user)
        # Unbound fields would render blank: show the defaults the table actually uses.
        self.form.fields["per_page"].initial = str(DEFAULT_PAGE_SIZE)
        self.form.fields["per_page"].required = False
        self.form.fields["q"].strip = True

    @property
    def qs(self):
        # The shared filters above must not filter: that would set per-request state on them.
        raise NotImplementedError("the dashboard engine applies the filters: use ticket_filters()")

    def get_form_class(self):
        """One form class for every request.

        django-filter builds a new form class, and a new field per filter, for every FilterSet;
        only the department and assignee choices differ between requests, and __init__ sets
        them on the form instance.
        """
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            filters = copy.deepcopy(cls.base_filters)  # .field is cached on the filter
            fields = {name: f.field for name, f in filters.items()}
            form_class = type(f"{cls.__name__}Form", (cls._meta.form,), fields)
            cls._form_class = form_class
        return form_class

    def valid_values(self) -> dict:
        """The cleaned values of the fields that validated; invalid ones are left out."""
        form = self.form
        if not form.is_bound:
            return {}
        form.is_valid()
        return {k: v for k, v in form.cleaned_data.items() if k not in form.errors}

    def problems(self) -> list[FilterProblem]:
        """Every filter that did not validate, as the dashboard's error summary lists them."""
        form = self.form
        if not form.is_bound or form.is_valid():
            return []
        found = []
        for name, errors in form.errors.items():
            field = form[name] if name in form.fields else None
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
    staff = assignable_staff(d.slug for d in departments)
    choices += [(str(pk), name) for pk, name in staff if pk != user.pk]
    return choices
