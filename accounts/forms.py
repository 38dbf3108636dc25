"""Forms that check a staff password, each paying for the check before it is made.

Every password check reserves an attempt with ``accounts.ratelimit.password_attempt`` first, so
parallel guesses cannot get more tries than the limit, and a locked-out username fails the same
way whatever was typed: checking the password while locked would let a guesser carry on and
learn the right one from the response.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from accounts.models import NotificationSettings
from accounts.ratelimit import (
    PasswordAttempt,
    PasswordThrottled,
    client_address,
    minutes_text,
    password_attempt,
)

logger = logging.getLogger(__name__)

MSG_INVALID_LOGIN = (
    "The username or password is not right. Both are case-sensitive; check Caps Lock."
)
MSG_LOCKED = (
    "Too many failed sign-in attempts. For your account's safety, sign-in is paused: "
    "try again in %(wait)s."
)
MSG_WRONG_OLD_PASSWORD = (
    "Your current password is not right. It is case-sensitive; check Caps Lock."
)


class _PasswordChecking:
    """Shared by the forms below: ``throttled`` tells the view to answer 429."""

    throttled = False

    def _reserve(self, request, username: str) -> PasswordAttempt:
        try:
            return password_attempt(request, username)
        except PasswordThrottled as exc:
            self.throttled = True
            logger.warning(
                "password check refused while locked out",
                extra={"username": username, "client": client_address(request)},
            )
            raise ValidationError(
                MSG_LOCKED, code="throttled", params={"wait": minutes_text(exc.wait)}
            ) from None

    @staticmethod
    def _checked(attempt: PasswordAttempt, check):
        """Run ``check`` (which hashes); a right password hands the attempt back."""
        try:
            result = check()
        except ValidationError:
            raise  # a wrong password: the reserved attempt stays spent
        except BaseException:
            attempt.abandoned()  # nothing was learnt (the database failed, say)
            raise
        attempt.succeeded()
        return result


class ThrottledAuthenticationForm(_PasswordChecking, AuthenticationForm):
    """Django's sign-in form, throttled by username and client address."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": MSG_INVALID_LOGIN,
    }

    @sensitive_variables("password")
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password")
        if not username or not password:
            return self.cleaned_data  # the empty field has its own error; nothing was tried
        attempt = self._reserve(self.request, username)
        return self._checked(attempt, super().clean)


class ThrottledPasswordChangeForm(_PasswordChecking, PasswordChangeForm):
    """Changing one's own password checks the current one: the same limits as signing in.

    Without them, anyone holding a signed-in session (a shared computer) could guess the
    password through this form instead of the sign-in page.
    """

    error_messages = {
        **PasswordChangeForm.error_messages,
        "password_incorrect": MSG_WRONG_OLD_PASSWORD,
    }

    def __init__(self, user, *args, request, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    @sensitive_variables("old_password")
    def clean_old_password(self):
        attempt = self._reserve(self.request, self.user.get_username())
        return self._checked(attempt, super().clean_old_password)


class NotificationSettingsForm(forms.ModelForm):
    class Meta:
        model = NotificationSettings
        fields = ("email_enabled", "new_ticket", "assigned_to_me", "customer_replied")
