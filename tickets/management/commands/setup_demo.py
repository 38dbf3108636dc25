"""Create the demo admin and a few demo tickets, once. Safe to run again."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from departments.registry import all_departments
from tickets.demo import create_demo_tickets

DEMO_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create a demo superadmin (printing its password once) and demo tickets if empty."

    def add_arguments(self, parser):
        parser.add_argument(
            "--tickets-per-department",
            type=int,
            default=6,
            help="Demo tickets to add to each department that has none (default 6).",
        )

    def handle(self, *args, tickets_per_department, **options):
        User = get_user_model()
        if User.objects.filter(username=DEMO_USERNAME).exists():
            self.stdout.write(
                f"Demo admin '{DEMO_USERNAME}' already exists; its password was printed when it "
                f"was created (reset it with: python manage.py changepassword {DEMO_USERNAME})."
            )
        else:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", password)
            self.stdout.write(self.style.SUCCESS("Demo admin created. Sign in with:"))
            self.stdout.write(f"    username: {DEMO_USERNAME}")
            self.stdout.write(f"    password: {password}")
            self.stdout.write("This password is shown only once.")

        for department in all_departments():
            made = create_demo_tickets(department, count=tickets_per_department)
            if made:
                self.stdout.write(f"{department.label}: added {made} demo tickets.")
