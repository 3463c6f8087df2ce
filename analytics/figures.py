"""Revenue figures as sums of ledger flows (and card purchases in money).

The ledger source counts every entry by transaction kind, account and
direction (``analytics.sources``); every token figure on the dashboard is
defined here as a sum of those flows, so it equals what the ledger says for
the same period (``analytics/tests/test_revenue.py`` proves it against direct
sums of entries).
"""

# Tokens leaving fans' wallets for something (a paid message's tokens leave
# when held in escrow; the creator is paid when it is answered).
SPEND_KINDS = ("call_charge", "message_charge", "message_hold", "tip", "ticket")
# Tokens given back to fans' wallets for unused or refunded spending.
FAN_REFUND_KINDS = ("call_refund", "refund", "message_refund", "ticket_refund")
KIND_LABELS = {
    "call_charge": "Calls",
    "message_charge": "Paid messages",
    "message_hold": "Paid messages (held)",
    "tip": "Tips",
    "ticket": "Stream tickets",
    "call_refund": "Unused call time",
    "refund": "Refunded charges",
    "message_refund": "Unanswered messages",
    "ticket_refund": "Stream tickets",
    "message_release": "Paid messages",
}


def _flow(ledger: dict, subgroup: str) -> int:
    return int(ledger.get(subgroup, 0))


def revenue(ledger: dict, purchases: dict) -> dict:
    """{figure: value} from one period's ledger flows and card purchases.

    ``ledger``: {"<kind>:<account>:<cr|dr>": signed tokens}.
    ``purchases``: {"<currency>:<cents|count|tokens>": value}.
    """
    spend = {kind: -_flow(ledger, f"{kind}:wallet:dr") for kind in SPEND_KINDS}
    fan_refunds = {kind: _flow(ledger, f"{kind}:wallet:cr") for kind in FAN_REFUND_KINDS}
    fees_by_kind: dict[str, int] = {}
    earnings = 0
    for subgroup, value in ledger.items():
        kind, account, _direction = subgroup.rsplit(":", 2)
        if account == "platform_fee":
            fees_by_kind[kind] = fees_by_kind.get(kind, 0) + int(value)
        elif account == "earnings" and kind != "earnings_release":
            earnings += int(value)
    money: dict[str, dict] = {}
    for subgroup, value in purchases.items():
        currency, what = subgroup.rsplit(":", 1)
        money.setdefault(currency, {"cents": 0, "count": 0, "tokens": 0})[what] += int(value)
    return {
        "card_purchases": dict(sorted(money.items())),
        "tokens_purchased": -_flow(ledger, "purchase:stripe_clearing:dr"),
        "tokens_spent": sum(spend.values()),
        "spend_by_kind": spend,
        "tokens_refunded_to_fans": sum(fan_refunds.values()),
        "fan_refunds_by_kind": fan_refunds,
        "net_spend": sum(spend.values()) - sum(fan_refunds.values()),
        "platform_fees": sum(fees_by_kind.values()),
        "fees_by_kind": {kind: value for kind, value in sorted(fees_by_kind.items()) if value},
        "creator_earnings": earnings,
        # Card refunds and chargebacks take tokens back into the refunds account.
        "card_refunds": _flow(ledger, "refund:refunds:cr"),
        "chargebacks": _flow(ledger, "chargeback:refunds:cr"),
        "disputes_won": -_flow(ledger, "clawback_restore:refunds:dr"),
        "promotions": _flow(ledger, "promotion:wallet:cr"),
    }


def calls(counts: dict, durations: dict, seconds: int) -> dict:
    """Call success figures from {outcome: calls}, a duration histogram and connected seconds."""
    from analytics.histogram import DURATION_S

    rung = int(counts.get("rung", 0))

    def share(n):
        return round(100 * n / rung, 1) if rung else None

    median = DURATION_S.percentile(durations, 0.5)
    out = {outcome: int(counts.get(outcome, 0)) for outcome in (
        "rung", "answered", "connected", "completed", "insufficient_funds", "dropped", "failed", "declined", "missed", "cancelled")}
    out["ended_normally"] = out["completed"] + out["insufficient_funds"]
    out.update(
        answered_pct=share(out["answered"]),
        connected_pct=share(out["connected"]),
        ended_normally_pct=share(out["ended_normally"]),
        dropped_pct=share(out["dropped"]),
        failed_pct=share(out["failed"]),
        median_seconds=round(median) if median is not None else None,
        connected_seconds=int(seconds),
    )
    return out
