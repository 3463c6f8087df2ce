"""The default token packages. Editable afterwards in the admin; this only
creates them where no package exists yet."""

from django.db import migrations

DEFAULT_PACKAGES = [
    # name, tokens, bonus, price in cents (USD), sort order
    ("Starter", 100, 0, 999, 10),
    ("Fan", 500, 25, 4999, 20),
    ("Superfan", 1200, 100, 10999, 30),
    ("Patron", 2500, 300, 21999, 40),
]


def seed(apps, schema_editor):
    TokenPackage = apps.get_model("payments", "TokenPackage")
    if TokenPackage.objects.exists():
        return
    TokenPackage.objects.bulk_create(
        TokenPackage(name=name, tokens=tokens, bonus_tokens=bonus, price_cents=price, currency="usd", sort_order=order)
        for name, tokens, bonus, price, order in DEFAULT_PACKAGES
    )


def unseed(apps, schema_editor):
    TokenPackage = apps.get_model("payments", "TokenPackage")
    TokenPackage.objects.filter(name__in=[p[0] for p in DEFAULT_PACKAGES], purchases__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
