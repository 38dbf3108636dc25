"""Create one zero count row per (status, priority) so ticket writes only ever UPDATE counts."""

from django.db import migrations

STATUSES = ("new", "open", "pending", "resolved", "closed")
PRIORITIES = (1, 2, 3, 4)


def seed_counts(apps, schema_editor):
    alias = schema_editor.connection.alias
    Ticket = apps.get_model("tickets", "Ticket")
    TicketCount = apps.get_model("tickets", "TicketCount")
    existing = {}
    for row in Ticket.objects.using(alias).values("status", "priority"):
        key = (row["status"], row["priority"])
        existing[key] = existing.get(key, 0) + 1
    TicketCount.objects.using(alias).bulk_create(
        TicketCount(status=s, priority=p, count=existing.get((s, p), 0))
        for s in STATUSES
        for p in PRIORITIES
    )


def drop_counts(apps, schema_editor):
    apps.get_model("tickets", "TicketCount").objects.using(
        schema_editor.connection.alias
    ).all().delete()


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [migrations.RunPython(seed_counts, drop_counts)]
