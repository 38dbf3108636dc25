from django.contrib import admin
from django.urls import include, path

from departments.views import healthz
from tickets.mail.webhooks import inbound_urlpatterns

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Django's admin (staff users and membership) lives apart from the ticket dashboard.
    path("manage/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    # Inbound email from providers (/anymail/<esp>/inbound/, behind ANYMAIL_WEBHOOK_SECRET).
    path("anymail/", include((inbound_urlpatterns(), "anymail"))),
    path("", include("tickets.urls")),
]
