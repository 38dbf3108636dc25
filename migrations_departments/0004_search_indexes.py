"""Indexes for the dashboard's free-text search (see tickets/search_index.py), per backend."""

from django.db import migrations

from tickets import search_index


def create_search_indexes(apps, schema_editor):
    search_index.create(schema_editor.connection, schema_editor.execute)


def drop_search_indexes(apps, schema_editor):
    search_index.drop(schema_editor.connection, schema_editor.execute)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0003_dashboard_indexes"),
    ]

    operations = [
        # Not atomic: MariaDB cannot run DDL inside a transaction; PostgreSQL and SQLite
        # still run it inside the migration's own transaction.
        migrations.RunPython(create_search_indexes, drop_search_indexes, atomic=False),
    ]
