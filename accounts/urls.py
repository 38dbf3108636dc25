from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.views import StaffLoginView, StaffPasswordChangeView, notification_settings

app_name = "accounts"

urlpatterns = [
    path("login/", StaffLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", StaffPasswordChangeView.as_view(), name="password_change"),
    path("notifications/", notification_settings, name="notifications"),
]
