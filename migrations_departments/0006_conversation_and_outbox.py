"""The conversation: internal notes become messages of a ticket thread (public replies, customer
replies and internal notes), tickets record their first response, and each department gets an
outbox of emails to send.

AdminNote is renamed in place (no rows copied): every existing note becomes an internal message.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0005_ticket_submission_key"),
    ]

    operations = [
        migrations.RenameModel("AdminNote", "Message"),
        migrations.RenameIndex(
            model_name="message",
            new_name="message_ticket_created_idx",
            old_name="note_ticket_created_idx",
        ),
        migrations.AlterModelOptions(name="message", options={"ordering": ("created_at", "id")}),
        migrations.AlterField(
            model_name="message",
            name="ticket",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="tickets.ticket",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="from_customer",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="message",
            name="visibility",
            field=models.CharField(
                choices=[("public", "Reply to customer"), ("internal", "Internal note")],
                default="internal",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="channel",
            field=models.CharField(
                choices=[("web", "Web"), ("email", "Email")], default="web", max_length=10
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="dedupe_key",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        # Nullable without a default: ADD COLUMN everywhere, no rebuild of the tickets table.
        migrations.AddField(
            model_name="ticket",
            name="first_response_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="ticket",
            name="channel",
            field=models.CharField(
                blank=True, choices=[("web", "Web"), ("email", "Email")], max_length=10, null=True
            ),
        ),
        migrations.AlterField(
            model_name="ticketevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("status_changed", "Status changed"),
                    ("priority_changed", "Priority changed"),
                    ("assigned", "Assigned"),
                    ("note_added", "Note added"),
                    ("replied", "Replied to customer"),
                    ("customer_replied", "Customer replied"),
                ],
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="OutboxEmail",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("received", "Ticket received"),
                            ("reply", "Reply from staff"),
                            ("resolved", "Ticket resolved"),
                            ("link", "Fresh ticket link"),
                            ("closed", "Reply to a closed ticket"),
                            ("new_ticket", "New ticket in my department"),
                            ("assigned", "Ticket assigned to me"),
                            ("customer_replied", "Customer replied on my ticket"),
                        ],
                        max_length=20,
                    ),
                ),
                ("recipient", models.EmailField(blank=True, max_length=254)),
                ("staff_user_id", models.PositiveIntegerField(blank=True, null=True)),
                ("context", models.JSONField(blank=True, default=dict)),
                ("message_id", models.CharField(max_length=255, unique=True)),
                (
                    "state",
                    models.CharField(
                        choices=[("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed")],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("claimed_until", models.DateTimeField(blank=True, null=True)),
                ("claim", models.CharField(blank=True, max_length=32)),
                ("last_error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "ticket",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="outbox",
                        to="tickets.ticket",
                    ),
                ),
            ],
            options={
                "ordering": ("id",),
                "indexes": [
                    models.Index(fields=["state", "next_attempt_at", "id"], name="outbox_due_idx")
                ],
            },
        ),
    ]
