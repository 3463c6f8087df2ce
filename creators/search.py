"""Search expressions shared by the selectors and the migration that indexes them.

PostgreSQL: full-text search over display name and bio (the 'simple'
configuration: names and bios mix languages, and stemming English words
would mangle names), plus trigram similarity (whole name, `%`) and word
similarity (`%>`) on the display name so "Lunna" still finds "Luna Park", plus a case-insensitive match on the
username. SQLite (the embedded default): icontains on the same fields.
"""

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

# Must match the expression of creators_fts_idx exactly (see migration 0002).
FTS_DOCUMENT_SQL = (
    "to_tsvector('simple'::regconfig, "
    "coalesce(creators_creatorprofile.display_name, '') || ' ' || coalesce(creators_creatorprofile.bio, ''))"
)

MAX_QUERY_LENGTH = 100


# One id list from three index-friendly parts. Written as one subquery
# because an OR across the profile and user tables would keep PostgreSQL from
# combining the GIN indexes (it would compute to_tsvector for every row). The
# full-text part is a SELECT of its own, not ORed with the trigram conditions
# in one bitmap: trigram matches are always rechecked against the row, and a
# recheck evaluates the whole OR, to_tsvector included, for every row the
# bitmap found (1.4 s of a 2.7 s search for a word in half the bios at
# 100,000 creators, bench/explore_plans.py). Alone, the full-text bitmap is
# exact and needs no recheck. The username part uses creators_username_trgm_idx
# (migration 0005) instead of reading every user.
_PG_MATCHING_IDS_SQL = f"""
    SELECT user_id FROM creators_creatorprofile
     WHERE {FTS_DOCUMENT_SQL} @@ websearch_to_tsquery('simple'::regconfig, %s)
    UNION
    SELECT user_id FROM creators_creatorprofile
     WHERE creators_creatorprofile.display_name %% %s
        OR creators_creatorprofile.display_name %%> %s
    UNION
    SELECT id FROM accounts_user WHERE username ILIKE %s
"""


# The same test for one row: a profile, and its username from the listing.
_PG_ROW_MATCHES_SQL = f"""(
    {FTS_DOCUMENT_SQL} @@ websearch_to_tsquery('simple'::regconfig, %s)
    OR creators_creatorprofile.display_name %% %s
    OR creators_creatorprofile.display_name %%> %s
    OR head.username ILIKE %s
)"""

# How many of a listing's first creators first_matches() looks through.
FIRST_LOOK_ROWS = 500


def first_matches(listing, q: str, order: list[str], count: int, *, look: int | None = None) -> list[tuple] | None:
    """The sort keys of the first ``count`` profiles of ``listing`` (a
    CreatorProfile queryset, already filtered and past any cursor) that match
    ``q``, in ``order`` (two descending fields, the user id last), found among
    the listing's first ``look`` rows; None when fewer than ``count`` match
    there (the caller searches the whole listing then), or off PostgreSQL.

    Why: a common word matches half of all creators, and the id-list search
    (apply_search) gathers, joins and sorts every one of them for a page of 25
    (~330 ms at 100,000 creators, bench/explore_plans.py), while the first
    matches in the listing's order are among its first rows. Exact all the
    same: the listing's first rows in its own order are a prefix of it, so the
    matches among them, in that order, are the first matches of the whole.
    The outer query orders by the head's own columns, in the head's order: the
    nested loop over it keeps that order, so PostgreSQL stops at the
    ``count``-th match instead of testing all ``look`` rows.
    """
    if connection.vendor != "postgresql":
        return None
    keys = [field.lstrip("-") for field in order]
    head = listing.order_by(*order).values_list(*keys, "user__username")[: look or FIRST_LOOK_ROWS]
    head_sql, head_params = head.query.sql_with_params()
    sql = f"""
        SELECT head.key1, head.key2
          FROM ({head_sql}) AS head (key1, key2, username)
          JOIN creators_creatorprofile ON creators_creatorprofile.user_id = head.key2
         WHERE {_PG_ROW_MATCHES_SQL}
         ORDER BY head.key1 DESC, head.key2 DESC
         LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*head_params, q, q, q, _like_pattern(q), count])
        rows = [tuple(row) for row in cursor.fetchall()]
    return rows if len(rows) == count else None


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def apply_search(queryset, q: str):
    """Narrow a CreatorProfile queryset to the profiles matching the search text ``q``."""
    if connection.vendor == "postgresql":
        return queryset.filter(user_id__in=RawSQL(_PG_MATCHING_IDS_SQL, [q, q, q, _like_pattern(q)]))
    return queryset.filter(Q(display_name__icontains=q) | Q(bio__icontains=q) | Q(user__username__icontains=q))
