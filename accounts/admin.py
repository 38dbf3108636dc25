from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import DepartmentMembership, NotificationSettings, User


class MembershipInline(admin.TabularInline):
    model = DepartmentMembership
    extra = 1


class NotificationSettingsInline(admin.StackedInline):
    model = NotificationSettings
    can_delete = False


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Help desk role", {"fields": ("role",)}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Help desk role", {"fields": ("role",)}),
    )
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active", "memberships__department")
    inlines = (MembershipInline, NotificationSettingsInline)
