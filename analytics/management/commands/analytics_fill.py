"""Fill the console's rollups now, or recompute them from a date (an operator's backfill)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from analytics import rollups
from analytics.sources import SOURCES


class Command(BaseCommand):
    help = "Fill the analytics rollups (what the beat job does), or recompute from --since."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Recompute every hour from this UTC date (YYYY-MM-DD) on.")
        parser.add_argument("--rebuild-days", action="store_true", help="Derive every local day again (done by itself after a time zone change).")

    def handle(self, *args, since=None, rebuild_days=False, **options):
        start = None
        if since:
            try:
                start = dt.datetime.combine(dt.date.fromisoformat(since), dt.time.min, tzinfo=dt.timezone.utc)
            except ValueError:
                raise CommandError("--since must be a date, YYYY-MM-DD")
        for name in SOURCES:
            hours = rollups.fill_source(name, start=start)
            days = rollups.fill_creator_days(name, rebuild=rebuild_days or start is not None)
            self.stdout.write(f"{name}: {hours} hours, {days} days per creator filled")
        days = rollups.fill_days(rebuild=rebuild_days or start is not None)
        self.stdout.write(f"days: {days} derived")
