from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tickets.selectors import department_overview


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/home.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    overview = department_overview(request.user.departments())
    return render(request, "tickets/dashboard.html", {"overview": overview})
