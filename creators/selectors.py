"""Reads shared by the Explore page, the API, the profile page and the home page.

Cards (everything a creator card or profile shows that comes from the
database) are cached per creator for CREATORS_CARD_CACHE_S and dropped by
``services.invalidate_creator_cache`` on every change that shows on them.
Availability is never cached with the card: it is computed per request from
presence (cache), calls and the card's do-not-disturb flag.
"""

import base64
import binascii
import datetime as dt
import functools
import hashlib
import importlib
import json
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from creators.exceptions import CreatorNotFound, InvalidCursor, InvalidSort, UnknownCategory
from creators.models import Category, CreatorCategory, CreatorProfile, Follow
from creators.search import MAX_QUERY_LENGTH, apply_search, first_matches
from creators.services import CARD_CACHE_KEY, EXPLORE_GENERATION_KEY, LOCAL_ANONYMOUS_RESPONSES
from digis.errors import InvalidInput
from digis.params import parse_int

SORTS = ("popular", "new", "online")
DEFAULT_PAGE_SIZE = 24
MAX_PAGE_SIZE = 60
CATEGORIES_CACHE_KEY = "creators:categories:v1"
ONLINE_IDS_CACHE_KEY = "creators:online_ids:v1"
CREATOR_IDS_CACHE_KEY = "creators:all_ids:v1"
ANONYMOUS_RESPONSE_KEY = "creators:anonymous:v1:{}"


def _card_ttl() -> int:
    return getattr(settings, "CREATORS_CARD_CACHE_S", 600)


# --- who may appear ---------------------------------------------------------


def listed_profiles():
    """Profiles that may appear anywhere public: active, not banned, not deleted
    creators whose profile moderation has not hidden."""
    now = timezone.now()
    return CreatorProfile.objects.filter(
        Q(user__banned_at__isnull=True) | Q(user__banned_until__lte=now),
        user__is_active=True,
        user__role="creator",
        user__deleted_at__isnull=True,
        hidden_at__isnull=True,
    )


def hidden_user_ids(viewer) -> frozenset[str]:
    """Users ``viewer`` must never see (blocks in either direction), as strings.

    Read on every signed-in Explore request, so it comes from the cache
    (``accounts.selectors.blocked_user_ids_cached``: exact, every block and
    unblock replaces it), not from a query.
    """
    if viewer is None or not viewer.is_authenticated:
        return frozenset()
    from accounts.selectors import blocked_user_ids_cached

    return blocked_user_ids_cached(viewer)


# --- categories -------------------------------------------------------------


class _ProcessMemo:
    """A value kept in this process for a few seconds on top of the shared cache.

    Every Explore request needs the category list and the online creators;
    asking Redis each time is a network round trip per request for data that
    changes rarely (categories) or is already seconds stale (online sweep).
    """

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self.value = None
        self.expires = 0.0

    def get(self, load):
        now = time.monotonic()
        if self.value is None or now >= self.expires:
            self.value, self.expires = load(), now + self.ttl_s
        return self.value

    def clear(self):
        self.value, self.expires = None, 0.0


_categories_memo = _ProcessMemo(ttl_s=30)
_online_memo = _ProcessMemo(ttl_s=2)


def categories() -> list[dict]:
    """The curated categories (slug, name). Cached in Redis (dropped when the admin
    edits one) and for 30 s in each process."""

    def load():
        found = cache.get(CATEGORIES_CACHE_KEY)
        if found is None:
            found = [{"slug": c.slug, "name": c.name} for c in Category.objects.all()]
            cache.set(CATEGORIES_CACHE_KEY, found, 300)
        return found

    return _categories_memo.get(load)


def category_by_slug(slug: str) -> dict:
    for category in categories():
        if category["slug"] == slug:
            return category
    raise UnknownCategory(f"There is no category '{slug}'.", fields={"category": ["Unknown category."]})


# --- cards ------------------------------------------------------------------


# Everything a card shows, read as plain tuples: a cold Explore page builds
# 24-41 cards, and model instances with a prefetch of their categories were
# about 40% of such a request's CPU in the web process (bench/explore.py --py-spy).
_CARD_COLUMNS = (
    "user_id", "display_name", "bio", "avatar", "cover", "video_call_rate", "voice_call_rate", "message_price",
    "min_call_minutes", "message_policy", "message_min_spend", "do_not_disturb", "follower_count", "created_at",
    "user__username", "user__display_name", "user__first_name", "user__last_name", "user__avatar",
)


def _load_cards(user_ids: list[str]) -> dict[str, dict]:
    """Cards of these creators from the database: two queries, no model instances."""
    from accounts.models import User

    categories: dict[str, list] = {}
    links = (
        CreatorCategory.objects.filter(profile_id__in=user_ids)
        .order_by("profile_id", "position")
        .values_list("profile_id", "category__slug", "category__name")
    )
    for profile_id, slug, name in links:
        categories.setdefault(str(profile_id), []).append({"slug": slug, "name": name})
    profile_files = CreatorProfile._meta.get_field("avatar").storage
    cover_files = CreatorProfile._meta.get_field("cover").storage
    user_files = User._meta.get_field("avatar").storage
    cards = {}
    for row in CreatorProfile.objects.filter(user_id__in=user_ids).values_list(*_CARD_COLUMNS):
        (user_id, display_name, bio, avatar, cover, video_rate, voice_rate, message_price, min_minutes, policy,
         min_spend, dnd, followers, created_at, username, user_display_name, first_name, last_name, user_avatar) = row
        full_name = f"{first_name} {last_name}".strip()  # User.get_full_name
        if avatar:
            avatar_url = profile_files.url(avatar)
        else:
            avatar_url = user_files.url(user_avatar) if user_avatar else ""
        user_id = str(user_id)
        cards[user_id] = {
            "id": user_id,
            "username": username,
            "name": display_name or user_display_name or full_name or username,  # or User.public_name
            "bio": bio,
            "avatar_url": avatar_url,
            "cover_url": cover_files.url(cover) if cover else "",
            "initials": _initials(display_name or full_name or username),
            "video_call_rate": video_rate,
            "voice_call_rate": voice_rate,
            "message_price": message_price,
            "min_call_minutes": min_minutes,
            "message_policy": policy,
            "message_min_spend": min_spend,
            "do_not_disturb": dnd,
            "follower_count": followers,
            "categories": categories.get(user_id, []),
            "created_at": created_at.isoformat(),
        }
    return cards


def _initials(name: str) -> str:
    parts = [part for part in name.split() if part[:1].isalnum()]
    return ("".join(part[0] for part in parts[:2]) or name[:1] or "?").upper()


def cards_for(user_ids: Iterable) -> dict[str, dict]:
    """Cards for these creator ids (missing ones are skipped), from cache then one batch query."""
    ids = [str(user_id) for user_id in user_ids]
    if not ids:
        return {}
    keys = {CARD_CACHE_KEY.format(user_id): user_id for user_id in ids}
    cached = cache.get_many(list(keys))
    cards = {keys[key]: card for key, card in cached.items()}
    missing = [user_id for user_id in ids if user_id not in cards]
    if missing:
        fresh = _load_cards(missing)
        if _card_ttl() > 0:
            cache.set_many({CARD_CACHE_KEY.format(user_id): card for user_id, card in fresh.items()}, _card_ttl())
        cards.update(fresh)
    return cards


# --- availability -----------------------------------------------------------


@functools.cache
def _optional_module(name: str):
    """Another app's module if it exists (imported once per process), else None.

    Seams to apps that land later: a failed import is not cached by Python,
    and retrying it on every request costs file-system lookups.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _busy_user_ids(user_ids: list[str]) -> set[str]:
    calls_selectors = _optional_module("calls.selectors")
    if calls_selectors is None:
        return set()
    return {str(user_id) for user_id in calls_selectors.busy_user_ids(user_ids)}


def live_user_ids(user_ids: Iterable | None = None) -> set[str]:
    """Seam for Streaming: creators live right now. None until streaming provides
    ``streaming.selectors.live_user_ids``."""
    streaming_selectors = _optional_module("streaming.selectors")
    if streaming_selectors is None or not hasattr(streaming_selectors, "live_user_ids"):
        return set()
    ids = None if user_ids is None else [str(user_id) for user_id in user_ids]
    return {str(user_id) for user_id in streaming_selectors.live_user_ids(ids)}


def _availability(user_ids: list[str], dnd: dict[str, bool]) -> dict[str, str]:
    from digis.realtime import presence

    online = presence.online_user_ids(user_ids)
    busy = _busy_user_ids([user_id for user_id in user_ids if user_id in online]) if online else set()
    result = {}
    for user_id in user_ids:
        if user_id not in online:
            result[user_id] = "offline"
        elif user_id in busy:
            result[user_id] = "in_call"
        elif dnd.get(user_id):
            result[user_id] = "dnd"
        else:
            result[user_id] = "online"
    return result


def availability(user_ids: Iterable) -> dict[str, str]:
    """{user id: "online" | "in_call" | "offline" | "dnd"} for these users.

    Offline wins (no socket open), then in a call, then "don't disturb".
    """
    ids = [str(user_id) for user_id in user_ids]
    dnd = {user_id: card["do_not_disturb"] for user_id, card in cards_for(ids).items()}
    return _availability(ids, dnd)


def decorate_cards(cards: list[dict]) -> list[dict]:
    """Cached cards plus what changes by the second: availability and is_live."""
    return _decorate(cards)


def _decorate(cards: list[dict]) -> list[dict]:
    """Per-request facts on top of cached cards: availability and live."""
    ids = [card["id"] for card in cards]
    states = _availability(ids, {card["id"]: card["do_not_disturb"] for card in cards})
    live = live_user_ids(ids) if ids else set()
    return [{**card, "availability": states[card["id"]], "is_live": card["id"] in live} for card in cards]


def sweep_online_creators() -> list[str]:
    """Check the presence of every listed creator and share the answer in the cache.

    Presence lives in the cache and cannot be queried by role, so this is one
    get_many over all creator ids (~100 ms for 10,000). The beat task
    creators.tasks.sweep_online_creators runs it every few seconds, off the
    request path; a request only runs it when the shared answer is missing.
    """
    from digis.realtime import presence

    all_ids = cache.get(CREATOR_IDS_CACHE_KEY)
    if all_ids is None:
        all_ids = [str(pk) for pk in listed_profiles().values_list("user_id", flat=True)]
        cache.set(CREATOR_IDS_CACHE_KEY, all_ids, 60)
    online = sorted(presence.online_user_ids(all_ids))
    cache.set(ONLINE_IDS_CACHE_KEY, online, getattr(settings, "CREATORS_ONLINE_CACHE_S", 10))
    return online


def online_creator_ids() -> set[str]:
    """Ids of listed creators with an open socket (seconds stale at most)."""

    def load():
        online = cache.get(ONLINE_IDS_CACHE_KEY)
        if online is None:
            online = sweep_online_creators()
        return frozenset(online)

    if getattr(settings, "CREATORS_ONLINE_CACHE_S", 10) <= 0:
        _online_memo.clear()
    return set(_online_memo.get(load))


# --- Explore ----------------------------------------------------------------


@dataclass(frozen=True)
class ExploreQuery:
    category: str | None = None
    q: str | None = None
    online: bool = False
    sort: str = "popular"
    cursor: str | None = None
    limit: int = DEFAULT_PAGE_SIZE

    def as_params(self, *, cursor: str | None = None, with_category: bool = True) -> dict:
        """URL query parameters reproducing this query (for links)."""
        params = {}
        if self.category and with_category:
            params["category"] = self.category
        if self.q:
            params["q"] = self.q
        if self.online:
            params["online"] = "1"
        if self.sort != "popular":
            params["sort"] = self.sort
        if self.limit != DEFAULT_PAGE_SIZE:
            params["limit"] = str(self.limit)
        if cursor:
            params["cursor"] = cursor
        return params


@dataclass
class ExplorePage:
    query: ExploreQuery
    creators: list[dict] = field(default_factory=list)
    next_cursor: str | None = None


def parse_explore_query(params, *, category: str | None = None) -> ExploreQuery:
    """Query parameters -> ExploreQuery. Bad input raises a 4xx DomainError.

    ``category`` (from /explore/tag/<slug>/) wins over ?category=.
    """
    sort = params.get("sort") or "popular"
    if sort not in SORTS:
        raise InvalidSort(f"Unknown sort '{sort[:40]}'; use popular, new or online.", fields={"sort": ["Unknown sort."]})
    slug = category or params.get("category") or None
    if slug is not None:
        category_by_slug(slug)
    q = (params.get("q") or "").strip() or None
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        raise InvalidInput("The search text is too long.", fields={"q": [f"At most {MAX_QUERY_LENGTH} characters."]})
    online_raw = params.get("online") or ""
    if online_raw not in ("", "0", "1", "true", "false"):
        raise InvalidInput("'online' must be 1 or 0.", fields={"online": ["Must be 1 or 0."]})
    cursor = params.get("cursor") or None
    query = ExploreQuery(
        category=slug,
        q=q,
        online=online_raw in ("1", "true"),
        sort=sort,
        cursor=cursor,
        limit=parse_int(params.get("limit"), name="limit", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE),
    )
    if cursor is not None:
        _decode_cursor(cursor, sort)  # reject garbage before any query runs
    return query


def _encode_cursor(sort: str, values: list) -> str:
    raw = json.dumps([sort, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> list:
    """Cursor -> the sort key of the last row seen. Anything malformed is a 400."""
    try:
        if len(cursor) > 200:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, list) or not data or data[0] != sort:
            raise ValueError("wrong sort")
        values = data[1:]
        if len(values) != (3 if sort == "online" else 2) or not isinstance(values[-1], str):
            raise ValueError("wrong shape")
        last_id = uuid.UUID(values[-1])
        if sort == "popular":
            followers, _ = values
            ok = isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0
            keys = [followers, last_id]
        elif sort == "new":
            created, _ = values
            created_at = dt.datetime.fromisoformat(created)
            ok = created_at.tzinfo is not None
            keys = [created_at, last_id]
        else:
            flag, followers, _ = values
            ok = flag in (0, 1) and isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0
            keys = [flag, followers, last_id]
        if not ok:
            raise ValueError("bad key")
        return keys
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise InvalidCursor(fields={"cursor": ["Not a cursor from this list."]})


def _after(cursor_keys: list, sort: str) -> Q:
    """Rows strictly after the cursor in descending (key, id) order (popular
    and new; the online sort applies the popular one to each of its halves)."""
    if sort == "popular":
        followers, last_id = cursor_keys
        return Q(follower_count__lte=followers) & (
            Q(follower_count__lt=followers) | Q(follower_count=followers, user_id__lt=last_id)
        )
    created_at, last_id = cursor_keys
    return Q(created_at__lte=created_at) & (Q(created_at__lt=created_at) | Q(created_at=created_at, user_id__lt=last_id))


def _page_rows_cached(query: ExploreQuery, online_ids, count: int, fetch):
    """The first ``count`` sort keys of a query, shared for CREATORS_PAGE_CACHE_S
    (only the order of ids; cards and availability are read separately). The
    price: a creator banned or newly listed in the last few seconds shows (or
    not) until the entry expires."""
    ttl = getattr(settings, "CREATORS_PAGE_CACHE_S", 5)
    if ttl <= 0:
        return fetch()
    online_part = ",".join(sorted(online_ids)) if online_ids else ""
    raw = repr((query.category, query.q, query.online, query.sort, query.cursor, count, online_part))
    key = "creators:page:v2:" + hashlib.sha256(raw.encode()).hexdigest()
    rows = cache.get(key)
    if rows is None:
        rows = fetch()
        cache.set(key, rows, ttl)
    return rows


# Rows a shared Explore page keeps beyond the page itself, so that a viewer
# whose blocks remove a few of them still gets a full page from it.
SPARE_ROWS = 16
# Creators a "Live now" / "Online now" strip shows.
SECTION_SIZE = 8


def _order_for(sort: str) -> tuple[list[str], list[str]]:
    """ORDER BY and the key fields of the popular and new sorts (online: ``_online_first_rows``)."""
    if sort == "popular":
        return ["-follower_count", "-user_id"], ["follower_count", "user_id"]
    return ["-created_at", "-user_id"], ["created_at", "user_id"]


def _fetch_rows(query: ExploreQuery, online_ids, *, count: int, hidden=frozenset()) -> list[tuple]:
    """The sort keys (user id last) of the first ``count`` listed creators
    after the query's cursor, leaving out ``hidden``."""
    queryset = listed_profiles()
    if hidden:
        queryset = queryset.exclude(user_id__in=hidden)
    if query.category:
        queryset = queryset.filter(category_links__category__slug=query.category)
    if query.online:
        queryset = _with_ids(queryset, online_ids)
    if query.sort == "online":
        if query.q:
            queryset = apply_search(queryset, query.q)
        return _online_first_rows(queryset, query, online_ids, count)
    if query.cursor:
        queryset = queryset.filter(_after(_decode_cursor(query.cursor, query.sort), query.sort))
    order, key_fields = _order_for(query.sort)
    if query.q:
        # A search first looks among the listing's first rows (a common word:
        # the page is there), then, if the page is not full, searches it all.
        rows = first_matches(queryset, query.q, order, count)
        if rows is not None:
            return rows
        queryset = apply_search(queryset, query.q)
    return list(queryset.order_by(*order).values_list(*key_fields)[:count])


def _online_first_rows(queryset, query: ExploreQuery, online_ids, count: int) -> list[tuple]:
    """sort=online: the online creators, most followed first, then everyone
    else in the same order; rows (1 or 0, follower count, id), exactly the
    order and cursor of ORDER BY (online, followers, id) DESC.

    Asked as two queries on purpose: ranking by a CASE over the online ids
    made PostgreSQL compute it for every listed creator and sort them all
    (a full scan per request at 100,000 creators); each half here walks the
    popular index and stops after ``count`` rows.
    """
    after = _decode_cursor(query.cursor, "online") if query.cursor else None
    online = sorted(online_ids or ())
    order = ["-follower_count", "-user_id"]
    rows = []
    if online and (after is None or after[0] == 1):
        part = _with_ids(queryset, online)
        if after is not None:
            part = part.filter(_after(after[1:], "popular"))
        rows = [(1, *keys) for keys in part.order_by(*order).values_list("follower_count", "user_id")[:count]]
    if len(rows) < count and not query.online:
        part = _with_ids(queryset, online, exclude=True) if online else queryset
        if after is not None and after[0] == 0:
            part = part.filter(_after(after[1:], "popular"))
        rows += [(0, *keys) for keys in part.order_by(*order).values_list("follower_count", "user_id")[: count - len(rows)]]
    return rows


def _online_ids_for(query: ExploreQuery):
    return online_creator_ids() if (query.online or query.sort == "online") else None


def _page_from_rows(query: ExploreQuery, rows: list[tuple], cards: dict[str, dict]) -> ExplorePage:
    """The page the first ``limit + 1`` of ``rows`` make (the extra row only
    says whether there is a next page). Cards already decorated."""
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    ordered = [cards[str(row[-1])] for row in rows if str(row[-1]) in cards]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        values = [value.isoformat() if isinstance(value, dt.datetime) else value for value in last[:-1]]
        next_cursor = _encode_cursor(query.sort, [*values, str(last[-1])])
    return ExplorePage(query=query, creators=ordered, next_cursor=next_cursor)


@dataclass(frozen=True)
class SharedPage:
    """What every viewer of one Explore query (filters, sort, cursor, size)
    starts from: the first ``limit + 1 + SPARE_ROWS`` rows in order and their
    decorated cards, shared like an anonymous response
    (``anonymous_explore_cached``). A viewer's blocks are applied on top.

    A keyset page is the first ``limit + 1`` rows after the cursor, so removing
    rows that are not among them changes nothing, and removing some of them
    leaves the page the next rows would make: as long as ``limit + 1`` rows
    remain (or the query has no more rows than these), the viewer's page is
    exactly the one their own query would return, cursor included.
    """

    rows: tuple
    ids: tuple  # each row's user id, as a string
    cards: dict
    complete: bool  # the query has no rows beyond these

    def head_ids(self, limit: int) -> frozenset[str]:
        """The ids that decide the anonymous page (its cards and whether there is a next one)."""
        return frozenset(self.ids[: limit + 1])

    def page_for(self, query: ExploreQuery, hidden: frozenset) -> ExplorePage | None:
        """This page without ``hidden``, or None when too few rows remain to know it."""
        if hidden:
            rows = [row for row, user_id in zip(self.rows, self.ids) if user_id not in hidden]
        else:
            rows = list(self.rows)
        if len(rows) <= query.limit and not self.complete:
            return None
        return _page_from_rows(query, rows, self.cards)


def _build_shared_page(query: ExploreQuery) -> SharedPage:
    online_ids = _online_ids_for(query)
    if query.online and not online_ids:
        return SharedPage(rows=(), ids=(), cards={}, complete=True)
    count = query.limit + 1 + SPARE_ROWS
    rows = _page_rows_cached(
        query, online_ids, count, lambda: _fetch_rows(query, online_ids, count=count)
    )
    cards = cards_for(row[-1] for row in rows)
    decorated = {card["id"]: card for card in _decorate([cards[str(row[-1])] for row in rows if str(row[-1]) in cards])}
    return SharedPage(
        rows=tuple(rows), ids=tuple(str(row[-1]) for row in rows), cards=decorated, complete=len(rows) < count
    )


def shared_enabled() -> bool:
    """Whether Explore answers are shared between viewers (CREATORS_ANONYMOUS_CACHE_S > 0)."""
    return getattr(settings, "CREATORS_ANONYMOUS_CACHE_S", 3) > 0


def shared_page(query: ExploreQuery) -> SharedPage:
    return anonymous_explore_cached(("shared-page", query), lambda: _build_shared_page(query))


def explore(query: ExploreQuery, *, viewer=None, hidden: frozenset | None = None) -> ExplorePage:
    """One page of creator cards for Explore and the API (keyset pagination).

    Minus the creators ``viewer`` must not see (``hidden``, when the caller
    already read it). With sharing on (CREATORS_ANONYMOUS_CACHE_S), every
    viewer's page comes from the query's ``SharedPage`` with their blocks
    applied: no query, and availability as old as an anonymous visitor's.
    Only a viewer whose blocks remove more than SPARE_ROWS of its rows, or
    sharing off, queries: blocks (from the cache), the page's keys, then cards
    (cache, or one batch of two queries), calls' busy list and streaming's
    live list: the count does not grow with the page size.
    """
    if hidden is None:
        hidden = hidden_user_ids(viewer)
    if shared_enabled():
        page = shared_page(query).page_for(query, hidden)
        if page is not None:
            return page
    online_ids = _online_ids_for(query)
    if query.online and not online_ids:
        return ExplorePage(query=query)
    count = query.limit + 1
    if hidden:
        rows = _fetch_rows(query, online_ids, count=count, hidden=hidden)
    else:
        rows = _page_rows_cached(query, online_ids, count, lambda: _fetch_rows(query, online_ids, count=count))
    cards = cards_for(row[-1] for row in rows[: query.limit])
    decorated = {card["id"]: card for card in _decorate(list(cards.values()))}
    return _page_from_rows(query, rows, decorated)


def viewer_sees_shared_page(query: ExploreQuery, hidden: frozenset) -> bool:
    """Whether a viewer hiding ``hidden`` gets exactly the shared (anonymous) page."""
    return not hidden or (shared_enabled() and hidden.isdisjoint(shared_page(query).head_ids(query.limit)))


@dataclass(frozen=True)
class SharedSection:
    """The first SECTION_SIZE + SPARE_ROWS creators of a strip, shared; blocks applied on top."""

    ids: tuple
    cards: dict
    complete: bool

    def head_ids(self) -> frozenset[str]:
        return frozenset(self.ids[:SECTION_SIZE])

    def cards_for(self, hidden: frozenset) -> list[dict] | None:
        ids = [user_id for user_id in self.ids if user_id not in hidden]
        if len(ids) < SECTION_SIZE and not self.complete:
            return None
        return [self.cards[user_id] for user_id in ids[:SECTION_SIZE] if user_id in self.cards]


def _with_ids(queryset, ids, *, exclude: bool = False):
    """``queryset`` (of CreatorProfile) narrowed to, or without, a set of user
    ids that can be large (the online creators: 2% of 100,000 is 2,000). On
    PostgreSQL the ids go as one array parameter (``= ANY(%s::uuid[])``, which
    plans as the IN list does: a hashed filter on the index walk that stops at
    the page), not one parameter per id: Django's IN of 2,000 ids cost ~35 ms
    a query to adapt and plan (a cold /explore/ at 100,000 creators spent
    104 ms of web CPU). An ``IN (SELECT unnest(...))`` was as cheap in Python
    but a semi-join in PostgreSQL (22 -> 41 ms of its CPU per cold page)."""
    ids = list(ids)
    if connection.vendor == "postgresql" and len(ids) > 50:
        condition = RawSQL('"creators_creatorprofile"."user_id" = ANY(%s::uuid[])', [ids], output_field=BooleanField())
        return queryset.exclude(condition) if exclude else queryset.filter(condition)
    return queryset.exclude(user_id__in=ids) if exclude else queryset.filter(user_id__in=ids)


def _section_rows(kind: str, *, count: int, hidden=frozenset(), category: str | None = None) -> list[str]:
    ids = live_user_ids() if kind == "live" else online_creator_ids()
    ids = [user_id for user_id in ids if user_id not in hidden]
    if not ids:
        return []
    rows = _with_ids(listed_profiles(), ids)
    if category:
        rows = rows.filter(category_links__category__slug=category)
    rows = rows.order_by("-follower_count", "-user_id").values_list("user_id", flat=True)
    return [str(user_id) for user_id in rows[:count]]


def _build_shared_section(kind: str, category: str | None) -> SharedSection:
    count = SECTION_SIZE + SPARE_ROWS
    ids = _section_rows(kind, count=count, category=category)
    cards = cards_for(ids)
    decorated = {card["id"]: card for card in _decorate([cards[user_id] for user_id in ids if user_id in cards])}
    return SharedSection(ids=tuple(ids), cards=decorated, complete=len(ids) < count)


def shared_section(kind: str, category: str | None = None) -> SharedSection:
    return anonymous_explore_cached(("shared-section", kind, category), lambda: _build_shared_section(kind, category))


def section(kind: str, *, viewer=None, hidden: frozenset | None = None, category: str | None = None) -> list[dict]:
    """The "Live now" / "Online now" strips: listed creators in that state (in
    ``category`` on a category's page), most followed first, SECTION_SIZE at
    most, minus whom the viewer must not see."""
    if hidden is None:
        hidden = hidden_user_ids(viewer)
    if shared_enabled():
        found = shared_section(kind, category).cards_for(hidden)
        if found is not None:
            return found
    ids = _section_rows(kind, count=SECTION_SIZE, hidden=hidden, category=category)
    cards = cards_for(ids)
    return _decorate([cards[user_id] for user_id in ids if user_id in cards])


def viewer_sees_shared_sections(kinds, hidden: frozenset, category: str | None = None) -> bool:
    """Whether a viewer hiding ``hidden`` sees exactly the shared strips of these kinds."""
    if not hidden:
        return True
    return shared_enabled() and all(hidden.isdisjoint(shared_section(kind, category).head_ids()) for kind in kinds)


# An entry outlives its freshness by this much so that, once it is stale by
# age, one request rebuilds it while the others keep serving it: without that,
# every client asking a popular search when it expires ran the same search at
# once (p95 1.4 s at 32 clients on three searches).
ANONYMOUS_STALE_GRACE_S = 30
ANONYMOUS_REBUILD_LOCK_S = 10
LOCAL_ANONYMOUS_MAX_ENTRIES = 256  # distinct URLs (searches) a process keeps at once
_monotonic = time.monotonic  # tests move it
_building: dict[str, Future] = {}
_building_lock = threading.Lock()


def _wait_for(build: Future):
    return build.result(timeout=ANONYMOUS_REBUILD_LOCK_S)


def _build_once(key: str, build_and_store):
    """Concurrent misses of one key in this process share one build.

    A missing entry, or one from before a card change, has nothing to serve
    while it is rebuilt, so every request that misses it builds; under load
    that was 16 requests per process running the same search at once, all of
    them slow (bench/explore.py, a search URL's first round). The first
    builds; the others wait for its result. If it fails or takes longer than
    the rebuild lock, each builds for itself, as before.
    """
    with _building_lock:
        pending = _building.get(key)
        if pending is None:
            mine = _building[key] = Future()
    if pending is not None:
        try:
            return _wait_for(pending)
        except Exception:
            return build_and_store()
    try:
        value = build_and_store()
        mine.set_result(value)
        return value
    except BaseException as exc:
        mine.set_exception(exc)
        raise
    finally:
        with _building_lock:
            _building.pop(key, None)


def _remember_locally(key: str, value, *, fresh_for: float, epoch: int) -> None:
    hold = min(getattr(settings, "CREATORS_ANONYMOUS_LOCAL_S", 1.0), fresh_for)
    if hold <= 0 or LOCAL_ANONYMOUS_RESPONSES.epoch != epoch:  # a change here since we read: keep nothing
        return
    now = _monotonic()
    if len(LOCAL_ANONYMOUS_RESPONSES) >= LOCAL_ANONYMOUS_MAX_ENTRIES:
        for old_key, (expires, _) in list(LOCAL_ANONYMOUS_RESPONSES.items()):
            if expires <= now:
                LOCAL_ANONYMOUS_RESPONSES.pop(old_key, None)
        if len(LOCAL_ANONYMOUS_RESPONSES) >= LOCAL_ANONYMOUS_MAX_ENTRIES:
            LOCAL_ANONYMOUS_RESPONSES.clear()
    LOCAL_ANONYMOUS_RESPONSES[key] = (now + hold, value)


def anonymous_explore_cached(parts: tuple, build):
    """What ``build()`` returns for an anonymous viewer, shared for a few seconds.

    Explore is what a visitor sees first, and every anonymous visitor asking the
    same URL gets the same answer, so the built response (API data, or the
    page's rendered content) is kept CREATORS_ANONYMOUS_CACHE_S seconds under a
    key made of ``parts``. A hit costs one Redis round trip (the entry and the
    explore generation in one MGET) instead of three plus rendering.

    Freshness: any change to any card (profile edit, follow counts, categories,
    ban, account changes: everything that calls
    ``services.invalidate_creator_cache``) replaces the generation, and an entry
    built under an older generation is never served: the request rebuilds it.
    The generation is read before building, so a change that lands while we
    build invalidates what we store. Availability (online / in a call) and
    "live" are not tracked: they are CREATORS_ANONYMOUS_CACHE_S old at most,
    plus the time one rebuild takes (while one request rebuilds an entry that is
    only old, the others serve it). What is stored here is what a viewer who
    hides nobody sees; signed-in viewers get it only when their blocks remove
    nothing from it (``viewer_sees_shared_page``), and otherwise their own
    answer built from the shared pages (``SharedPage.page_for``).

    Each web process also keeps what it served for CREATORS_ANONYMOUS_LOCAL_S
    (1 s; never past the shared entry's own age limit) and answers from that
    copy without asking Redis: the Redis round trip was about a third of an
    anonymous Explore hit's CPU in daphne (bench/RESULTS.md). A card change
    drops the copies of the process that made it at once (and the shared entry
    everywhere); every other process serves its copy for at most that long.
    """
    ttl = getattr(settings, "CREATORS_ANONYMOUS_CACHE_S", 3)
    if ttl <= 0:
        return build()
    key = ANONYMOUS_RESPONSE_KEY.format(hashlib.sha256(repr(parts).encode()).hexdigest())
    held = LOCAL_ANONYMOUS_RESPONSES.get(key)
    if held is not None and _monotonic() < held[0]:
        return held[1]
    epoch = LOCAL_ANONYMOUS_RESPONSES.epoch
    started = time.time()
    found = cache.get_many([key, EXPLORE_GENERATION_KEY])
    generation = found.get(EXPLORE_GENERATION_KEY)
    entry = found.get(key)
    lock = None
    if entry is not None and entry[0] == generation:
        built_at, value = entry[1], entry[2]
        if started - built_at < ttl:
            _remember_locally(key, value, fresh_for=ttl - (started - built_at), epoch=epoch)
            return value
        lock = key + ":rebuild"
        if not cache.add(lock, 1, ANONYMOUS_REBUILD_LOCK_S):
            return value  # someone else is rebuilding it

    def build_and_store():
        value = build()
        cache.set(key, (generation, started, value), ttl + ANONYMOUS_STALE_GRACE_S)
        _remember_locally(key, value, fresh_for=ttl, epoch=epoch)
        return value

    try:
        return _build_once(key, build_and_store)
    finally:
        if lock is not None:
            cache.delete(lock)


def featured(*, viewer=None, limit: int = 12) -> list[dict]:
    """Home page: online creators first, then the most followed."""
    page = explore(ExploreQuery(sort="online", limit=limit), viewer=viewer)
    return page.creators


# --- one creator ------------------------------------------------------------


def profile_card(username: str, *, viewer=None) -> dict:
    """The public profile of a listed creator, by username (case-insensitive).

    Hidden (CreatorNotFound) if the creator blocked the viewer or the other way round.
    """
    user_id = (
        listed_profiles().filter(user__username__iexact=username).values_list("user_id", flat=True).first()
    )
    if user_id is None or str(user_id) in hidden_user_ids(viewer):
        raise CreatorNotFound()
    cards = cards_for([user_id])
    if str(user_id) not in cards:
        raise CreatorNotFound()
    card = _decorate([cards[str(user_id)]])[0]
    card["is_following"] = is_following(viewer, user_id)
    return card


def is_following(viewer, creator_user_id) -> bool:
    if viewer is None or not viewer.is_authenticated:
        return False
    return Follow.objects.filter(follower=viewer, creator_id=creator_user_id).exists()


def own_profile(user) -> CreatorProfile | None:
    return CreatorProfile.objects.filter(user=user).prefetch_related("category_links__category").first()


def follower_page(creator_user_id, *, after: tuple | None = None, limit: int = 500) -> tuple[list, tuple | None]:
    """One page of the ids of a creator's followers, oldest follow first, for fan-outs.

    Keyset pages on (created_at, id) ride the creators_followers_idx index,
    so the last page of a big audience costs what the first does. Returns
    (follower ids, the key to pass as ``after`` for the next page or None at the end).
    """
    rows = Follow.objects.filter(creator_id=creator_user_id)
    if after is not None:
        created_at, follow_id = after
        rows = rows.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=follow_id))
    page = list(rows.order_by("created_at", "id").values_list("created_at", "id", "follower_id")[:limit])
    next_after = (page[-1][0], page[-1][1]) if len(page) == limit else None
    return [follower_id for _, _, follower_id in page], next_after
