"""The admin at /manage/ without password forms of its own.

Django's admin has its own sign-in and password-change pages. Each checks a staff password, so
each would be a way round the app's throttling (its session works everywhere). Both send people
to the app's throttled pages instead; everything else is Django's admin as it is.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode


class HelpdeskAdminSite(AdminSite):
    site_header = "Help desk administration"
    site_title = "Help desk admin"
    index_template = "admin/helpdesk_index.html"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[tuple[str, object, str, str]] = []

    def register_page(self, route: str, view, *, name: str, title: str) -> None:
        """A page of another app under /manage/ (department data has no ModelAdmin: it lives in
        many databases), behind the admin's own sign-in check and listed on its index."""
        self._pages.append((route, view, name, title))

    def get_urls(self):
        pages = [
            path(route, self.admin_view(view), name=name) for route, view, name, _ in self._pages
        ]
        return pages + super().get_urls()

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["extra_pages"] = [
            (title, reverse(f"{self.name}:{name}", current_app=self.name))
            for _, _, name, title in self._pages
        ]
        return context

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponseRedirect:
        """Sign in on the app's page, then come back to where the admin was heading."""
        target = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = ""
        target = target or reverse("admin:index", current_app=self.name)
        login = reverse("accounts:login")
        return HttpResponseRedirect(f"{login}?{urlencode({REDIRECT_FIELD_NAME: target})}")

    def password_change(self, request: HttpRequest, extra_context=None) -> HttpResponseRedirect:
        return redirect("accounts:password_change")


class HelpdeskAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.HelpdeskAdminSite"
