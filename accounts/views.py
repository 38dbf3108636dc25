"""Staff sign-in; sign-out is Django's POST-only LogoutView."""

from __future__ import annotations

from django.contrib.auth.views import LoginView

from accounts.forms import ThrottledAuthenticationForm


class StaffLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            # 429 tells scripts to back off; people read the message on the page.
            response.status_code = 429
        return response
