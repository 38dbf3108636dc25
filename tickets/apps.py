from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Connects the email providers' inbound webhook to the inbound email service.
        from tickets.mail import webhooks  # noqa: F401
