"""`manage.py ledger_check`: verify the whole ledger; exits non-zero naming the offenders."""

from django.core.management.base import BaseCommand, CommandError

from ledger.checks import run_all


class Command(BaseCommand):
    help = "Check that transactions balance, cached balances match entries, no wallet is negative, system accounts reconcile."

    def handle(self, *args, **options):
        failures = 0
        for check, problems in run_all().items():
            if problems:
                failures += len(problems)
                self.stdout.write(self.style.ERROR(f"FAIL {check}"))
                for problem in problems:
                    self.stdout.write(f"  {problem}")
            else:
                self.stdout.write(self.style.SUCCESS(f"ok   {check}"))
        if failures:
            raise CommandError(f"ledger check found {failures} problem(s)")
