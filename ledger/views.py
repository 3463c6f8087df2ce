"""The wallet page: balance, the last 30 days (a server-drawn chart, inline SVG, no
script needed) and the history, one line per thing that happened."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from digis.errors import InvalidInput
from digis.params import parse_int
from ledger import selectors

CHART_DAYS = 30
CHART_HEIGHT = 120
BAR_WIDTH = 9
BAR_GAP = 3


def _chart(days: list[dict]) -> dict:
    """Bar geometry for the daily spent/earned chart, computed here so the template only draws."""
    peak = max([max(d["spent"], d["earned"]) for d in days] + [1])
    slot = 2 * BAR_WIDTH + BAR_GAP
    bars = []
    for index, day in enumerate(days):
        x = index * slot
        spent_h = round(day["spent"] * CHART_HEIGHT / peak)
        earned_h = round(day["earned"] * CHART_HEIGHT / peak)
        bars.append(
            {
                "day": day["day"],
                "spent": day["spent"],
                "earned": day["earned"],
                "spent_x": x,
                "spent_y": CHART_HEIGHT - spent_h,
                "spent_h": spent_h,
                "earned_x": x + BAR_WIDTH,
                "earned_y": CHART_HEIGHT - earned_h,
                "earned_h": earned_h,
            }
        )
    return {
        "bars": bars,
        "width": len(days) * slot,
        "height": CHART_HEIGHT,
        "bar_width": BAR_WIDTH,
        "peak": peak,
        "any": any(d["spent"] or d["earned"] for d in days),
        "total_spent": sum(d["spent"] for d in days),
        "total_earned": sum(d["earned"] for d in days),
    }


@login_required
def wallet(request):
    before = request.GET.get("before")
    try:
        before_id = parse_int(before, name="before", default=0, minimum=1) if before else None
    except InvalidInput:  # a tampered cursor shows the first page
        before_id = None
    lines, next_cursor = selectors.activity(user=request.user, before=before_id, limit=25)
    summary = selectors.wallet_summary(user=request.user)
    context = {
        "summary": summary,
        "is_creator": "earnings_pending" in summary,
        "lines": lines,
        "next_cursor": next_cursor,
        "first_page": before_id is None,
        "chart": _chart(selectors.period_totals(user=request.user, days=CHART_DAYS)),
        "chart_days": CHART_DAYS,
    }
    return render(request, "ledger/wallet.html", context)
