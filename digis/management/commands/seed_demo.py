"""Load demo data for the embedded default. Idempotent: run it as often as you like.

Each app contributes through an optional ``<app>/demo.py`` with a function
``seed(context)``; apps run in INSTALLED_APPS order and share ``context``
(accounts puts the demo users there first).
"""

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Create demo creators, a fan with tokens and token packages (idempotent)."

    def handle(self, *args, **options):
        context = {"stdout": self.stdout, "style": self.style, "logins": []}
        for app_config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{app_config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app_config.name}.demo":
                    raise
                continue
            with transaction.atomic():
                module.seed(context)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in with:"))
        for username, password, what in context["logins"]:
            self.stdout.write(f"  {what:<9} {username:<10} password: {password}")
        self.stdout.write(
            "  Staff sign in at /accounts/login/ with a one-time code in the code field, then open /admin/."
            " Each code works once; `python manage.py seed_demo` prints fresh ones."
        )
