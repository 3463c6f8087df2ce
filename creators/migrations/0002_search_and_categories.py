"""PostgreSQL search indexes and the curated category list.

The search indexes are PostgreSQL-only (full-text and trigram); on SQLite the
operations do nothing and search falls back to icontains. The index
expressions must stay identical to the ones in creators/search.py, or the
planner will not use them.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from creators.search import FTS_DOCUMENT_SQL

CATEGORIES = [
    ("music", "Music"),
    ("gaming", "Gaming"),
    ("fitness", "Fitness"),
    ("yoga", "Yoga & Wellness"),
    ("cooking", "Cooking"),
    ("fashion", "Fashion & Style"),
    ("beauty", "Beauty"),
    ("art", "Art & Design"),
    ("comedy", "Comedy"),
    ("education", "Education"),
    ("languages", "Languages"),
    ("tech", "Tech"),
    ("finance", "Money & Finance"),
    ("dating", "Dating Advice"),
    ("spirituality", "Astrology & Spirituality"),
    ("travel", "Travel"),
    ("sports", "Sports"),
]

PG_INDEXES = [
    ("creators_fts_idx", f"CREATE INDEX IF NOT EXISTS creators_fts_idx ON creators_creatorprofile USING gin (({FTS_DOCUMENT_SQL}))"),
    ("creators_name_trgm_idx", "CREATE INDEX IF NOT EXISTS creators_name_trgm_idx ON creators_creatorprofile USING gin (display_name gin_trgm_ops)"),
]


def create_pg_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, sql in PG_INDEXES:
        schema_editor.execute(sql)


def drop_pg_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in PG_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def seed_categories(apps, schema_editor):
    Category = apps.get_model("creators", "Category")
    for position, (slug, name) in enumerate(CATEGORIES, start=1):
        Category.objects.get_or_create(slug=slug, defaults={"name": name, "position": position * 10})


def unseed_categories(apps, schema_editor):
    Category = apps.get_model("creators", "Category")
    Category.objects.filter(slug__in=[slug for slug, _ in CATEGORIES], creators__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("creators", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_pg_indexes, drop_pg_indexes),
        migrations.RunPython(seed_categories, unseed_categories),
    ]
