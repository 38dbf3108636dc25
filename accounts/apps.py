from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts import checks  # noqa: F401  (registers the deployment checks)
        from accounts.models import DepartmentMembership, User
        from accounts.selectors import staff_changed

        for model in (User, DepartmentMembership):
            post_save.connect(staff_changed, sender=model, dispatch_uid=f"staff-{model.__name__}")
            post_delete.connect(
                staff_changed, sender=model, dispatch_uid=f"staff-del-{model.__name__}"
            )
