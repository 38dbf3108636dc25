"""Staff sign-in and changing one's own password; sign-out is Django's POST-only LogoutView."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from accounts.forms import (
    NotificationSettingsForm,
    ThrottledAuthenticationForm,
    ThrottledPasswordChangeForm,
)
from accounts.models import NotificationSettings
from accounts.ratelimit import DEVICE_COOKIE, DEVICE_MAX_AGE, device_cookie_value

MSG_PASSWORD_CHANGED = "Your password has been changed. Your other sessions have been signed out."


def remember_device(response, user) -> None:
    """This browser is known for this user under the current password (accounts.ratelimit)."""
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie_value(user),
        max_age=DEVICE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


class _Answers429WhenThrottled:
    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            # 429 tells scripts to back off; people read the message on the page.
            response.status_code = 429
        return response


class StaffLoginView(_Answers429WhenThrottled, LoginView):
    form_class = ThrottledAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        # This browser is now known for this username (see accounts.ratelimit).
        remember_device(response, form.get_user())
        return response


class StaffPasswordChangeView(_Answers429WhenThrottled, PasswordChangeView):
    form_class = ThrottledPasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("dashboard")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)  # keeps this session, ends the others
        messages.success(self.request, MSG_PASSWORD_CHANGED)
        # The change voided every device cookie (see accounts.ratelimit): this browser keeps one.
        remember_device(response, form.user)
        return response


MSG_NOTIFICATIONS_SAVED = "Your email notification settings are saved."


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Which emails this staff member gets. Saved as a row only once they change something."""
    current = NotificationSettings.objects.filter(user=request.user).first()
    current = current or NotificationSettings(user=request.user)
    form = NotificationSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        # The first save from two tabs at once: both read "no row"; update_or_create lets the
        # second update the first's row instead of failing on the one-to-one key.
        NotificationSettings.objects.update_or_create(user=request.user, defaults=form.cleaned_data)
        messages.success(request, MSG_NOTIFICATIONS_SAVED)
        return redirect("accounts:notifications")
    return render(
        request,
        "accounts/notifications.html",
        {"form": form, "has_email": bool(request.user.email)},
    )
