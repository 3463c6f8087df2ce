"""Database helpers shared by the apps."""

import psycopg
from django.db import connection


def fetch_prepared(sql: str, params) -> tuple | None:
    """Run one statement and return its first row: on PostgreSQL as a
    server-side prepared statement, elsewhere (SQLite, the embedded default)
    through Django's own cursor.

    Django's cursors bind parameters on the client and send a new statement
    every time, which PostgreSQL parses and plans on every call. A psycopg
    cursor that binds on the server prepares it once per connection (OPTIONS
    "prepare_threshold" in settings: statements of server-binding cursors are
    prepared at first use; Django's never are). For the few hot statements
    where planning or building the ORM query is a good part of the cost: the
    ledger's post, the console's live counts, the balance and unread count
    every signed-in page's navigation reads. Django's wrapper around the
    cursor keeps its error translation, execute_wrappers and query log.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params or None)
            return cursor.fetchone()
    with connection.cursor() as django_cursor:  # connects, checks health and thread sharing
        with psycopg.Cursor(django_cursor.connection) as bound:
            logged = connection.queries_logged
            cursor = connection.make_debug_cursor(bound) if logged else connection.make_cursor(bound)
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if logged and connection.queries_log and connection.queries_log[-1]["sql"] is None:
        # Django reads the SQL it logs off client-binding cursors only.
        connection.queries_log[-1]["sql"] = connection.ops.compose_sql(sql, params)
    return row


def db_param(model, field_name: str, value):
    """``value`` as the database stores ``model``'s ``field_name``, for a parameter of
    hand-written SQL: Django's own conversion (a UUID is a ``uuid`` on PostgreSQL,
    32 hex digits on SQLite; a foreign key converts like the key it points to)."""
    return model._meta.get_field(field_name).get_db_prep_value(value, connection)
