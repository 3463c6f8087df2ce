"""Log-scale histograms: latencies (milliseconds) and call durations (seconds).

A value goes into bucket ``i`` when ``BASE * R**(i-1) < value <= BASE * R**i``
with ``R = 2**(1/8)`` (each bucket ~9% wider than the one before). A
percentile is answered as the upper edge of the bucket holding that rank, so
it is never below the true value and at most 9% above it. Histograms add:
merging hours into days into a period is summing counts per bucket, which a
list of raw durations would not allow.

Stored sparse, as ``{str(bucket): count}`` (JSON keys are strings).
"""

import math
from collections.abc import Iterable, Mapping

R = 2 ** (1 / 8)
_LOG_R = math.log(R)


class Scale:
    def __init__(self, base: float, max_bucket: int):
        self.base = base
        self.max_bucket = max_bucket

    def bucket(self, value: float) -> int:
        if value <= self.base:
            return 0
        index = math.ceil(math.log(value / self.base) / _LOG_R - 1e-9)
        return min(index, self.max_bucket)

    def upper(self, bucket: int) -> float:
        return self.base * R**bucket

    def percentile(self, counts: Mapping, fraction: float) -> float | None:
        """Nearest-rank percentile (0 < fraction <= 1) of a histogram, or None if empty."""
        pairs = sorted((int(bucket), int(count)) for bucket, count in counts.items() if int(count) > 0)
        total = sum(count for _, count in pairs)
        if not total:
            return None
        rank = max(1, math.ceil(fraction * total))
        seen = 0
        for bucket, count in pairs:
            seen += count
            if seen >= rank:
                return self.upper(bucket)
        return self.upper(pairs[-1][0])


# 0.05 ms .. ~20 minutes; anything slower lands in the last bucket.
LATENCY_MS = Scale(base=0.05, max_bucket=200)
# 1 second .. ~ 1 day.
DURATION_S = Scale(base=1.0, max_bucket=140)


def merge(into: dict, other: Mapping) -> dict:
    for bucket, count in other.items():
        key = str(bucket)
        into[key] = into.get(key, 0) + int(count)
    return into


def merged(histograms: Iterable[Mapping]) -> dict:
    out: dict = {}
    for histogram in histograms:
        merge(out, histogram)
    return out
