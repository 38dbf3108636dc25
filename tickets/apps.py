from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Connects the email providers' inbound webhook to the inbound email service.
        from departments.health import register_department_detail
        from tickets import checks  # noqa: F401  (registers the deployment checks)
        from tickets.mail import webhooks  # noqa: F401
        from tickets.mail.failed import outbox_health

        # Failed and waiting email per department in the operators' /healthz report.
        register_department_detail("outbox", outbox_health)
