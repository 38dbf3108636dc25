from django.apps import AppConfig


class DepartmentsConfig(AppConfig):
    name = "departments"
    verbose_name = "Departments"

    def ready(self) -> None:
        # Fail at start-up, not on the first request, when two departments clash.
        from departments.registry import registry

        registry()
        from departments import timestamps  # noqa: F401  (registers the timestamptz reader)
