"""Explore's search matches usernames with ILIKE '%text%'; without a trigram
index that was a sequential scan of every user on each search (about a quarter
of a cold search's time at 100,000 creators, bench/explore_plans.py). The index
is on accounts' table because the username lives there; it serves only this
search, so it is created here, next to the other search indexes (0002).
PostgreSQL only; nothing on SQLite.
"""

from django.db import migrations

INDEX = "creators_username_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON accounts_user USING gin (username gin_trgm_ops)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("creators", "0004_merge_console_messaging"),
        ("accounts", "0003_moderators_group"),
    ]

    operations = [migrations.RunPython(create_index, drop_index)]
