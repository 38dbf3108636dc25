from django.urls import path

from tickets import views

urlpatterns = [
    # Public
    path("", views.ticket_submit, name="home"),
    path("submitted/<str:reference>/", views.ticket_submitted, name="ticket_submitted"),
    path("status/", views.status_lookup, name="status_lookup"),
    path("status/<str:reference>/", views.status_detail, name="status_detail"),
    # The customer's ticket page: the link in every email (a signed, expiring token).
    path("ticket/", views.customer_link_request, name="customer_link_request"),
    path("ticket/<str:token>/", views.customer_ticket, name="customer_ticket"),
    path(
        "ticket/<str:token>/files/<int:attachment_id>/",
        views.attachment_customer,
        name="attachment_customer",
    ),
    # Staff
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("t/", views.ticket_find, name="ticket_find"),
    path("t/<str:reference>/", views.ticket_by_reference, name="ticket_by_reference"),
    path(
        "tickets/<slug:department>/<int:ticket_id>/",
        views.ticket_detail,
        name="ticket_detail",
    ),
    path(
        "tickets/<slug:department>/<int:ticket_id>/files/<int:attachment_id>/",
        views.attachment_staff,
        name="attachment_staff",
    ),
    path("dashboard/export.csv", views.dashboard_export, name="dashboard_export"),
]
