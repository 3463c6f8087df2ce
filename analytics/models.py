"""Rollup tables for the operations console (Zulip's analytics app is the model).

The source of truth stays where it is (the ledger, purchases, calls); these
tables hold what the dashboard reads instead of scanning millions of rows:

- ``HourlyCount``: one row per stat, subgroup and UTC hour that had anything
  in it. No zero rows: a missing row is a zero. Filled by
  ``analytics.rollups`` for whole hours only, under a ``FillState`` per
  source, so the job is re-runnable: a filled hour is deleted and written
  again in one transaction, with the same result.
- ``DailyCount``: the same stats summed over the days of
  ``ANALYTICS_TIME_ZONE`` (derived from the hourly rows, so a day in Tokyo
  and a day in New York are both right). Long periods read these.
- ``CreatorDailyCount``: per creator and local day, straight from the source
  (per hour they would be about as many rows as the source has).
- ``RouteHour`` / ``RouteDay``: API latency histograms and error counts per
  route, merged in by each web process's recorder (``analytics.recorder``)
  every few seconds, never one write per request.
- ``ActiveUserDay``: who was active on which local day (DAU/WAU/MAU), and
  ``ActiveUser``: each user's last active day.

Only ``analytics.rollups`` and ``analytics.recorder`` write here.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class FillState(models.Model):
    """How far one source's rollups are filled: every hour (or day) before
    ``end_time`` is done. ``time_zone`` records the zone daily rows were cut in."""

    source = models.CharField(max_length=40, unique=True)
    end_time = models.DateTimeField()
    time_zone = models.CharField(max_length=64, blank=True, default="")
    last_modified = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.source} filled to {self.end_time.isoformat()}"


class HourlyCount(models.Model):
    id = models.BigAutoField(primary_key=True)
    stat = models.CharField(max_length=40)
    subgroup = models.CharField(max_length=80, blank=True, default="")
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stat", "hour", "subgroup"], name="analytics_hourly_unique"),
            models.CheckConstraint(condition=~Q(value=0), name="analytics_hourly_no_zero_rows"),
        ]
        permissions = [
            ("view_dashboard", "Can see the operations dashboard (users, revenue, calls, API performance)"),
        ]

    def __str__(self):
        return f"{self.stat}[{self.subgroup}] {self.hour:%Y-%m-%d %H}:00Z = {self.value}"


class DailyCount(models.Model):
    id = models.BigAutoField(primary_key=True)
    stat = models.CharField(max_length=40)
    subgroup = models.CharField(max_length=80, blank=True, default="")
    day = models.DateField(help_text="A day in ANALYTICS_TIME_ZONE.")
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stat", "day", "subgroup"], name="analytics_daily_unique"),
            models.CheckConstraint(condition=~Q(value=0), name="analytics_daily_no_zero_rows"),
        ]


class CreatorDailyCount(models.Model):
    """A stat per creator and local day (the day under way: up to the job's last run)."""

    id = models.BigAutoField(primary_key=True)
    stat = models.CharField(max_length=40)
    # No database FK: a rollup row must never block deleting or anonymising a
    # user, and the console joins users only for the few rows it shows.
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    subgroup = models.CharField(max_length=80, blank=True, default="")
    day = models.DateField()
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            # Led by the creator: the few creators a table shows are read by it.
            models.UniqueConstraint(fields=["stat", "creator", "day", "subgroup"], name="analytics_creator_daily_unique"),
            models.CheckConstraint(condition=~Q(value=0), name="analytics_creator_daily_no_zero_rows"),
        ]
        indexes = [
            # Ranking every creator over a span reads this index only. (All key
            # columns, not INCLUDE: SQLite, the embedded default, has no covering indexes.)
            models.Index(fields=["stat", "subgroup", "day", "creator", "value"], name="analytics_creator_daily_rank"),
            # A few creators' figures over a span (the console's tables) read this
            # index only: by the unique constraint's key, every row was a visit to
            # a different page of the table (45 ms for 20 creators over 90 days).
            models.Index(fields=["stat", "creator", "day", "subgroup", "value"], name="analytics_creator_daily_each"),
        ]


class RouteStats(models.Model):
    """Shared columns of a route's latency histogram over a span of time."""

    id = models.BigAutoField(primary_key=True)
    method = models.CharField(max_length=10)
    # The URL pattern ("api/calls/<uuid:id>/"), never the path: ids stay out.
    route = models.CharField(max_length=200)
    count = models.BigIntegerField(default=0)
    client_errors = models.BigIntegerField(default=0, help_text="Responses 400-499.")
    server_errors = models.BigIntegerField(default=0, help_text="Responses 500-599.")
    total_ms = models.FloatField(default=0.0)
    # Sparse histogram: {bucket index: requests} (analytics.histogram).
    buckets = models.JSONField(default=dict)

    class Meta:
        abstract = True


class RouteHour(RouteStats):
    hour = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "method", "route"], name="analytics_route_hour_unique")]


class RouteDay(RouteStats):
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "method", "route"], name="analytics_route_day_unique")]


class ActiveUserDay(models.Model):
    """``user`` made at least one request on ``day`` (a day in ANALYTICS_TIME_ZONE)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_constraint=False, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user"], name="analytics_active_user_day_unique")]


class ActiveUser(models.Model):
    """Each user's last active day: WAU and MAU as of today are one index range
    (``last_day >= today - 6``) instead of a distinct count over 30 days of rows."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, db_constraint=False, related_name="+")
    last_day = models.DateField(db_index=True)
