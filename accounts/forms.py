"""Staff sign-in with throttling: repeated failures lock the username and the client out."""

from __future__ import annotations

import logging

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from accounts.ratelimit import (
    client_address,
    login_failed,
    login_lockout_seconds,
    login_succeeded,
    minutes_text,
)

logger = logging.getLogger(__name__)

MSG_INVALID_LOGIN = (
    "The username or password is not right. Both are case-sensitive; check Caps Lock."
)
MSG_LOCKED = (
    "Too many failed sign-in attempts. For your account's safety, sign-in is paused: "
    "try again in %(wait)s."
)


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing to even check a password while locked out.

    Checking it while locked would let a guesser carry on and learn the right password from
    the response; so a locked sign-in fails the same way whatever was typed.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": MSG_INVALID_LOGIN,
    }
    throttled = False

    @sensitive_variables("password")
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password")
        if not username or not password:
            return self.cleaned_data  # the empty field has its own error; nothing was tried
        wait = login_lockout_seconds(self.request, username)
        if wait:
            self.throttled = True
            logger.warning(
                "sign-in refused while locked out",
                extra={"username": username, "client": client_address(self.request)},
            )
            raise ValidationError(MSG_LOCKED, code="throttled", params={"wait": minutes_text(wait)})
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failed(self.request, username)
            raise
        login_succeeded(self.request, username)
        return cleaned
