"""Helpers shared by ledger migrations (a leading underscore: the loader skips this module)."""

from django.db import migrations


class PostgresRunSQL(migrations.RunSQL):
    """RunSQL that applies only on PostgreSQL (no-op on the SQLite default)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
