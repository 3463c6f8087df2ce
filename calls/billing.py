"""Call billing as pure functions: no database, no clock, no ledger.

Everything money-related about a call is computed here from the recorded
presence intervals, the rate, how many minutes were started and the end
time. The services feed these functions what the database recorded, so a
retry, a late sweeper or a re-run after a crash computes the same numbers.

Rules (docs/calls.md shows them to fans):
- only time when BOTH parties are present counts ("billable time");
- minute n is charged ahead, when billable time reaches (n - 1) minutes;
- at the end the fan pays ceil(billable seconds x rate / 60) tokens, never more
  than the minutes started; the rest of what was charged is refunded;
- under 10 billable seconds the call never really connected: full refund;
- a party silent for 20 s is absent from their last heartbeat on.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE_US = 60_000_000
SECOND_US = 1_000_000
MIN_BILLABLE_SECONDS = 10
SILENCE = timedelta(seconds=20)

Interval = tuple[datetime, datetime]


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


def presence_end(*, left_at: datetime | None, last_seen_at: datetime, now: datetime, silence: timedelta = SILENCE) -> datetime:
    """Where a presence interval ends as of ``now``.

    A closed interval ends where it was closed. An open one runs to ``now``
    while the party keeps talking to us, and stops at the last heartbeat once
    they have been silent for longer than ``silence``.
    """
    if left_at is not None:
        return left_at
    if now - last_seen_at <= silence:
        return max(now, last_seen_at)
    return last_seen_at


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals, sorted and non-overlapping (empty ones dropped)."""
    merged: list[list[datetime]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def both_present(a: Iterable[Interval], b: Iterable[Interval], *, until: datetime | None = None) -> list[Interval]:
    """The intervals in which both parties were present, clipped at ``until``."""
    left, right = merge(a), merge(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if until is not None:
            end = min(end, until)
        if end > start:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def billable_us(a: Iterable[Interval], b: Iterable[Interval], *, until: datetime | None = None) -> int:
    """Microseconds both parties were present."""
    return sum(_us(end - start) for start, end in both_present(a, b, until=until))


def instant_of_billable(a: Iterable[Interval], b: Iterable[Interval], target_us: int) -> datetime | None:
    """The moment billable time reached ``target_us``, or None if it never did."""
    elapsed = 0
    for start, end in both_present(a, b):
        length = _us(end - start)
        if elapsed + length >= target_us:
            return start + timedelta(microseconds=target_us - elapsed)
        elapsed += length
    return None


def minutes_due(billable: int) -> int:
    """How many minutes must have been charged once billable time is ``billable`` us.

    The first minute is due the instant both are present; minute n at (n-1) minutes.
    """
    return billable // MINUTE_US + 1


def seconds_left_in_prepaid(*, billable: int, minutes_charged: int) -> int:
    return max(0, (minutes_charged * MINUTE_US - billable) // SECOND_US)


@dataclass(frozen=True)
class Settlement:
    active_seconds: int
    tokens_charged: int
    tokens_paid: int
    tokens_refunded: int


def price(*, seconds: int, rate: int, minutes_charged: int) -> int:
    """What the fan pays for ``seconds`` of billable time (whole tokens)."""
    if seconds < MIN_BILLABLE_SECONDS:
        return 0
    exact = -(-seconds * rate // 60)  # ceil without floats
    return min(exact, minutes_charged * rate)


def settle(*, fan: Sequence[Interval], creator: Sequence[Interval], end: datetime, rate: int, minutes_charged: int) -> Settlement:
    """The settlement of a call: a pure function of its intervals, end time, rate and minutes started."""
    seconds = -(-billable_us(fan, creator, until=end) // SECOND_US)
    charged = minutes_charged * rate
    paid = price(seconds=seconds, rate=rate, minutes_charged=minutes_charged)
    return Settlement(active_seconds=seconds, tokens_charged=charged, tokens_paid=paid, tokens_refunded=charged - paid)


def refund_plan(*, rate: int, minutes_charged: int, refund: int) -> list[tuple[int, int]]:
    """Which minute charges give back how much: the latest minutes first.

    Returns [(minute number, tokens)], each at most one minute's charge.
    """
    plan = []
    minute = minutes_charged
    while refund > 0 and minute >= 1:
        amount = min(refund, rate)
        plan.append((minute, amount))
        refund -= amount
        minute -= 1
    if refund:
        raise ValueError("refund exceeds what was charged")
    return plan


def drop_time(a: Iterable[Interval], b: Iterable[Interval], *, since: datetime, now: datetime, window: timedelta) -> datetime | None:
    """When the call dropped: the first moment after ``since`` that both parties had been apart for ``window``.

    Computed from the intervals alone, so a sweeper that runs late (or a
    party who comes back too late) finds the same moment a punctual one would.
    """
    cursor = since
    for start, end in both_present(a, b, until=now):
        if end <= since:
            continue
        if start - cursor >= window:
            return cursor + window
        cursor = max(cursor, end)
    if now - cursor >= window:
        return cursor + window
    return None


def minutes_started(billable: int) -> int:
    """Minutes with at least a moment of billable time in them (at least the first)."""
    return max(1, -(-billable // MINUTE_US))
