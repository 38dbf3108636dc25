from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Help desk administration"
admin.site.site_title = "Help desk admin"

urlpatterns = [
    # Django's admin (staff users and membership) lives apart from the ticket dashboard.
    path("manage/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("tickets.urls")),
]
