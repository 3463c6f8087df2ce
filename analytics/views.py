"""The staff console's dashboard page and its CSV downloads.

/staff/ is the console's front door: the dashboard for the staff group
(``analytics.view_dashboard``), the reports queue for moderators, 404 for
everyone else (digis.console).
"""

import csv

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from analytics import charts, selectors
from analytics.figures import KIND_LABELS
from digis.console import console_page, has_console_permission
from digis.errors import DomainError

DASHBOARD = "analytics.view_dashboard"
MODERATION = "moderation.moderate_report"
CSV_CHARTS = ("active_users", "revenue", "calls", "top_creators", "creator_calls", "api")


def console_home(request):
    # Who may see the console is checked before anything else (a 405 to a
    # stranger would reveal that the page exists).
    if has_console_permission(request.user, DASHBOARD):
        return require_GET(dashboard)(request)
    if has_console_permission(request.user, MODERATION):
        return redirect("moderation:queue")
    raise Http404("Not found.")


def _period_or_error(request):
    try:
        period = selectors.parse_period(request.GET)
        grain = selectors.parse_grain(request.GET, period)
    except DomainError as exc:
        return None, None, exc
    return period, grain, None


@console_page(DASHBOARD)
def dashboard(request):
    period, grain, error = _period_or_error(request)
    if error is not None:
        return render(request, "analytics/bad_period.html", {"message": error.message}, status=400)
    data = selectors.dashboard(period, grain=grain)
    context = {
        **data,
        "now": selectors.right_now(),
        "periods": selectors.PERIOD_LABELS,
        "grains": selectors.GRAINS,
        "query": period.as_params() | {"grain": grain},
        "charts": _charts(data),
        "kind_labels": KIND_LABELS,
        "may_moderate": has_console_permission(request.user, MODERATION),
        "lagging": {name: seconds for name, seconds in data["lag_seconds"].items() if seconds is not None and seconds > 3 * 3600},
    }
    return render(request, "analytics/dashboard.html", context)


def _label(day, grain: str) -> str:
    if grain == "month":
        return day.strftime("%b %Y")
    return day.strftime("%d %b")


def _charts(data: dict) -> dict:
    grain = data["grain"]
    active = data["active_users"]["series"]
    revenue = data["revenue"]["series"]
    calls = data["calls"]["series"]
    currencies = sorted({currency for point in revenue for currency in point["card_purchases"]})
    money_series = [
        (currency.upper(), [point["card_purchases"].get(currency, {}).get("cents", 0) / 100 for point in revenue])
        for currency in currencies
    ] or [("USD", [0 for _ in revenue])]
    token_series = [
        ("Tokens bought", [p["tokens_purchased"] for p in revenue]),
        ("Tokens spent", [p["tokens_spent"] for p in revenue]),
        ("Platform fees", [p["platform_fees"] for p in revenue]),
        ("Refunded to fans", [p["tokens_refunded_to_fans"] for p in revenue]),
        ("Card refunds + chargebacks", [p["card_refunds"] + p["chargebacks"] for p in revenue]),
    ]
    call_series = [
        (name, [p[key] for p in calls])
        for key, name in (("rung", "Rung"), ("connected", "Connected"), ("completed", "Completed"), ("dropped", "Dropped"), ("failed", "Failed"))
    ]
    day_labels = [_label(p["start"], "day") for p in active]
    grain_labels = [_label(p["start"], grain) for p in revenue]
    return {
        "active_users": charts.chart(title="Active users per day", labels=day_labels,
                                     series=[("Active users", [p["active_users"] for p in active])], chart_id="chart-active"),
        "money": charts.chart(title=f"Card purchases per {grain} (money)", labels=grain_labels, series=money_series,
                              kind="bars" if len(money_series) == 1 else "lines", chart_id="chart-money"),
        "money_legend": charts.legend(money_series) if len(money_series) > 1 else "",
        "tokens": charts.chart(title=f"Tokens per {grain}", labels=grain_labels, series=token_series, kind="lines", chart_id="chart-tokens"),
        "tokens_legend": charts.legend(token_series),
        "calls": charts.chart(title="Calls per day", labels=[_label(p["start"], "day") for p in calls], series=call_series,
                              kind="lines", chart_id="chart-calls"),
        "calls_legend": charts.legend(call_series),
    }


def _csv_table(chart: str, request) -> tuple[list, list]:
    period = selectors.parse_period(request.GET)
    grain = selectors.parse_grain(request.GET, period)
    if chart == "active_users":
        data = selectors.active_users(period)
        return ["day", "active_users"], [[p["start"].isoformat(), p["active_users"]] for p in data["series"]]
    if chart == "revenue":
        data = selectors.revenue(period, grain=grain)
        currencies = sorted({c for p in data["series"] for c in p["card_purchases"]})
        header = [grain]
        for currency in currencies:
            header += [f"card_purchases_{currency}_cents", f"card_purchases_{currency}_count"]
        keys = ["tokens_purchased", "tokens_spent", "net_spend", "tokens_refunded_to_fans", "platform_fees", "creator_earnings",
                "card_refunds", "chargebacks", "disputes_won", "promotions"]
        kinds = list(data["totals"]["spend_by_kind"])
        header += keys + [f"spent_{kind}" for kind in kinds]
        rows = []
        for p in data["series"]:
            row = [p["start"].isoformat()]
            for currency in currencies:
                money = p["card_purchases"].get(currency, {})
                row += [money.get("cents", 0), money.get("count", 0)]
            row += [p[key] for key in keys] + [p["spend_by_kind"][kind] for kind in kinds]
            rows.append(row)
        return header, rows
    if chart == "calls":
        data = selectors.calls(period)
        keys = ["rung", "answered", "connected", "completed", "dropped", "failed"]
        return ["day", *keys], [[p["start"].isoformat(), *[p[k] for k in keys]] for p in data["series"]]
    if chart == "top_creators":
        rows = selectors.top_creators(period, limit=100)
        return ["rank", "username", "net_earnings_tokens"], [[r["rank"], r["username"], r["net_earnings"]] for r in rows]
    if chart == "creator_calls":
        rows = selectors.creator_calls(period, limit=100)
        keys = ["rung", "answered", "connected", "ended_normally", "dropped", "failed", "median_seconds"]
        return ["username", *keys], [[r["username"], *[r[k] for k in keys]] for r in rows]
    data = selectors.api_performance(period, limit=1000)
    keys = ["requests", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "server_errors", "error_rate_pct", "client_errors"]
    return ["method", "route", *keys], [[r["method"], r["route"], *[r[k] for k in keys]] for r in data["routes"]]


@console_page(DASHBOARD)
@require_GET
def chart_csv(request, chart: str):
    """One chart's numbers as CSV, for the same period (and grain) as the page."""
    if chart not in CSV_CHARTS:
        raise Http404("No such chart.")
    try:
        header, rows = _csv_table(chart, request)
    except DomainError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="digis-{chart}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
