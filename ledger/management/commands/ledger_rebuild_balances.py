"""`manage.py ledger_rebuild_balances [--dry-run]`: recompute cached balances from entries."""

from django.core.management.base import BaseCommand

from ledger.services import rebuild_balances


class Command(BaseCommand):
    help = "Recompute every cached account balance from its entries (the entries are the truth)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only report the drifts.")

    def handle(self, *args, dry_run=False, **options):
        drifts = rebuild_balances(dry_run=dry_run)
        verb = "would fix" if dry_run else "fixed"
        for account, cached, actual in drifts:
            self.stdout.write(f"{verb} account {account.pk} ({account}): {cached} -> {actual}")
        self.stdout.write(self.style.SUCCESS(f"{len(drifts)} account(s) {verb.split()[-1]}" if drifts else "all balances match their entries"))
