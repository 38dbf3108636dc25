"""Staff users and their department membership, stored in the system database."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from departments.registry import Department, UnknownDepartment, all_departments, registry


class Role(models.TextChoices):
    SUPERADMIN = "superadmin", "Superadmin (all departments)"
    AGENT = "agent", "Agent (member departments)"


class StaffUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.SUPERADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.AGENT)

    objects = StaffUserManager()

    @property
    def is_superadmin(self) -> bool:
        return self.role == Role.SUPERADMIN and self.is_active

    # Set by accounts.backends on the signed-in user: the slugs read with it under the current
    # staff version, so a request's access checks ask the database no more. Unset: read each time.
    membership_slugs: frozenset[str] | None = None

    def membership_slug_set(self) -> set[str]:
        return set(self.memberships.values_list("department", flat=True))

    def departments(self) -> list[Department]:
        """The departments whose tickets this user may see and change, in registry order."""
        if not self.is_active:
            return []
        if self.is_superadmin:
            return all_departments()
        slugs = self.membership_slugs
        if slugs is None:
            slugs = self.membership_slug_set()
        return [d for d in all_departments() if d.slug in slugs]

    def can_access(self, department: Department) -> bool:
        return any(d.slug == department.slug for d in self.departments())


def department_choices() -> list[tuple[str, str]]:
    return registry().choices()


class DepartmentMembership(models.Model):
    """An agent belongs to a department by its slug (departments are databases, not rows)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    department = models.CharField(max_length=64, choices=department_choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="membership_unique"),
        ]
        ordering = ("user", "department")

    def __str__(self) -> str:
        try:
            label = registry().get(self.department).label
        except UnknownDepartment:
            label = f"{self.department} (not configured)"
        return f"{self.user} in {label}"


class NotificationSettings(models.Model):
    """Which emails a staff member wants. No row: the defaults below (email on; told when a
    ticket is assigned to them or its customer replies; not about every new ticket)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="notifications")
    email_enabled = models.BooleanField(
        "Email me at all", default=True, help_text="Off: no notification emails of any kind."
    )
    new_ticket = models.BooleanField("A new ticket arrives in one of my departments", default=False)
    assigned_to_me = models.BooleanField("A ticket is assigned to me", default=True)
    customer_replied = models.BooleanField("A customer replies on a ticket I hold", default=True)

    class Meta:
        verbose_name = "notification settings"
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"Notification settings of {self.user}"
