"""Ticket pages by audience: ``public`` (submit, status), ``customer`` (their ticket page from
the emailed link), ``staff`` (one ticket), ``dashboard``
(the overview and its export). Views stay thin: forms validate, ``tickets.services`` writes,
``tickets.selectors`` reads; a department outage is ``DepartmentUnavailable``, answered in one
place (``departments.middleware``)."""

from tickets.views.attachments import attachment_customer, attachment_staff
from tickets.views.customer import customer_link_request, customer_ticket
from tickets.views.dashboard import DashboardView, dashboard_export
from tickets.views.public import status_detail, status_lookup, ticket_submit, ticket_submitted
from tickets.views.staff import ticket_by_reference, ticket_detail, ticket_find

__all__ = [
    "DashboardView",
    "attachment_customer",
    "attachment_staff",
    "customer_link_request",
    "customer_ticket",
    "dashboard_export",
    "status_detail",
    "status_lookup",
    "ticket_by_reference",
    "ticket_detail",
    "ticket_find",
    "ticket_submit",
    "ticket_submitted",
]
