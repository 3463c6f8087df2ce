"""Replay Stripe events: the failed ones, or named ones (stored, or fetched from Stripe).

Every handler is idempotent under keys derived from Stripe ids, so a replay
can never credit or claw back twice.

    python manage.py replay_stripe_events --failed
    python manage.py replay_stripe_events evt_123 evt_456
    python manage.py replay_stripe_events --fetch evt_789   # not stored here: ask Stripe
"""

from django.core.management.base import BaseCommand, CommandError

from payments import gateway, selectors, services
from payments.models import StripeEvent


class Command(BaseCommand):
    help = "Process Stripe events again (failed ones with --failed, or the ids given)."

    def add_arguments(self, parser):
        parser.add_argument("event_ids", nargs="*", help="Stripe event ids (evt_...)")
        parser.add_argument("--failed", action="store_true", help="replay every event whose handling failed")
        parser.add_argument("--fetch", action="store_true", help="fetch ids we never stored from the Stripe API")

    def handle(self, *args, event_ids, failed, fetch, **options):
        if not event_ids and not failed:
            raise CommandError("name event ids or pass --failed")
        events = list(selectors.failed_events()) if failed else []
        for event_id in event_ids:
            event = StripeEvent.objects.filter(stripe_id=event_id).first()
            if event is None:
                if not fetch:
                    raise CommandError(f"{event_id} is not stored here (use --fetch to ask Stripe)")
                event, _ = services.record_event(payload=gateway.retrieve_event(event_id))
            events.append(event)
        failures = 0
        for event in events:
            outcome = services.process_event(event_id=event.pk, force=True)
            failures += outcome == "failed"
            self.stdout.write(f"{event.stripe_id} {event.type}: {outcome}")
        if failures:
            raise CommandError(f"{failures} event(s) failed again; see StripeEvent.last_error")
