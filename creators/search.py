"""Search expressions shared by the selectors and the migration that indexes them.

PostgreSQL: full-text search over display name and bio (the 'simple'
configuration: names and bios mix languages, and stemming English words
would mangle names), plus trigram word similarity on the display name so
"lunna" still finds "Luna Park", plus a case-insensitive match on the
username. SQLite (the embedded default): icontains on the same fields.
"""

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

# Must match the expression of creators_fts_idx exactly (see migration 0002).
FTS_DOCUMENT_SQL = (
    "to_tsvector('simple'::regconfig, "
    "coalesce(creators_creatorprofile.display_name, '') || ' ' || coalesce(creators_creatorprofile.bio, ''))"
)

MAX_QUERY_LENGTH = 100


def apply_search(queryset, q: str):
    """Narrow a CreatorProfile queryset to the profiles matching the search text ``q``."""
    if connection.vendor == "postgresql":
        fts = RawSQL(f"{FTS_DOCUMENT_SQL} @@ websearch_to_tsquery('simple'::regconfig, %s)", [q], output_field=BooleanField())
        return queryset.filter(Q(fts) | Q(display_name__trigram_word_similar=q) | Q(user__username__icontains=q))
    return queryset.filter(Q(display_name__icontains=q) | Q(bio__icontains=q) | Q(user__username__icontains=q))
