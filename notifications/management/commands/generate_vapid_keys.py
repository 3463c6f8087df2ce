"""Print a new VAPID key pair for web push, as environment lines to paste.

    python manage.py generate_vapid_keys >> .env

Keep the private key secret. Changing the pair invalidates every browser's
push subscription (browsers subscribed with the old public key); they
re-subscribe when their owner turns push on again.
"""

from django.core.management.base import BaseCommand

from notifications.webpush import generate_vapid_keys


class Command(BaseCommand):
    help = "Print a new VAPID key pair (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY) for web push."

    def handle(self, *args, **options):
        public, private = generate_vapid_keys()
        self.stdout.write(f"VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
        self.stderr.write("Also set VAPID_SUBJECT=mailto:<an address that reads mail> (push services write there about problems).")
