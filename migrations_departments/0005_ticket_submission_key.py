"""Ticket.submission_key: a nullable unique column that makes the public form idempotent."""

from django.db import migrations, models

INDEX = "tickets_ticket_submission_key_uniq"


def _names(schema_editor):
    quote = schema_editor.quote_name
    return {"name": quote(INDEX), "table": quote("tickets_ticket")}


def create_unique_index(apps, schema_editor):
    # NULLs are distinct in a unique index on all three backends: only form tickets carry a key.
    schema_editor.execute(
        "CREATE UNIQUE INDEX %(name)s ON %(table)s (submission_key)" % _names(schema_editor)
    )


def drop_unique_index(apps, schema_editor):
    # The backend's own DROP INDEX template: MySQL/MariaDB need "ON table", the others refuse it.
    schema_editor.execute(schema_editor.sql_delete_index % _names(schema_editor))


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0004_search_indexes"),
    ]

    operations = [
        # Declared unique=True on the model, but built as a plain nullable column plus a unique
        # index: on SQLite a unique column (or a UniqueConstraint) makes Django rebuild the
        # whole table, which would copy a million rows and drop the search triggers of 0004.
        # ADD COLUMN of a nullable column is cheap on every backend.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AddField(
                    model_name="ticket",
                    name="submission_key",
                    field=models.CharField(blank=True, editable=False, max_length=64, null=True),
                ),
                migrations.RunPython(create_unique_index, drop_unique_index, atomic=False),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="ticket",
                    name="submission_key",
                    field=models.CharField(
                        blank=True, editable=False, max_length=64, null=True, unique=True
                    ),
                ),
            ],
        ),
    ]
