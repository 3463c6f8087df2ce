"""Stripe Connect for the local Stripe stand-in (localstripe has none).

The part of Connect that Digis uses, speaking Stripe's wire protocol so the
real ``stripe`` client is tested end to end:

- ``POST /v1/accounts`` (Express), ``GET/POST /v1/accounts/{id}``, ``GET /v1/accounts``,
  ``GET /v1/account`` (the platform itself);
- ``POST /v1/account_links`` and the hosted onboarding page the link opens
  (``/connect/onboarding/{token}``: a plain form standing in for Stripe's; the
  creator enters a test bank account, and is sent back to ``return_url``; an
  expired or used link sends them to ``refresh_url``, as Stripe does);
- ``POST /v1/transfers``, ``GET /v1/transfers[/{id}]`` (filter ``transfer_group``,
  ``destination``), ``POST/GET /v1/transfers/{id}/reversals``;
- payouts and balances *of a connected account* (``Stripe-Account`` header on
  ``/v1/payouts`` and ``/v1/balance``; without the header localstripe's own
  platform payouts answer). A payout settles ``LOCALSTRIPE_CONNECT_PAYOUT_DELAY_S``
  (1 s) after it is created: paid, or failed when the account's bank account
  is one of Stripe's failing test numbers;
- the events: ``account.updated``, ``transfer.created``, ``transfer.reversed``,
  ``payout.created``, ``payout.paid``, ``payout.failed`` (Connect events carry
  ``account``), stored and signed by localstripe like its own;
- ``Idempotency-Key`` on every POST here, as Stripe keeps it: the same key and
  parameters replay the first response (``Idempotent-Replayed: true``); the same
  key with other parameters is a 400 ``idempotency_error``. (localstripe itself
  ignores the header.)
- Test knobs, like localstripe's ``/_config/``: ``POST /_config/connect/accounts/{id}/restrict``
  (Stripe disables the account's transfers and payouts and says why) and
  ``.../enable``.

State is in memory, as the rest of the server. Money is integer minor units.
Importing this module installs it into localstripe's application (one line in
``payments/localstripe_server.py``).
"""

import asyncio
import html
import json
import os
import re
import secrets
import time

from aiohttp import web
from localstripe import server
from localstripe.resources import Event, random_id
from localstripe.webhooks import schedule_webhook

PAYOUT_DELAY_S = float(os.environ.get("LOCALSTRIPE_CONNECT_PAYOUT_DELAY_S", "1.0"))
ACCOUNT_LINK_TTL_S = 300  # Stripe's account links expire after a few minutes

# Stripe's documented test bank accounts: what happens to a payout sent there.
# US: routing 110000000 and one of these account numbers; elsewhere an IBAN.
TEST_BANK_ACCOUNTS = {
    "000123456789": None,
    "000111111116": ("no_account", "The bank account details on file are probably incorrect. No bank account could be located with those details."),
    "000111111113": ("account_closed", "The bank account has been closed."),
    "000222222227": ("insufficient_funds", "Your Stripe account has insufficient funds to cover the payout."),
    "000333333335": ("debit_not_authorized", "Debit transactions are not approved on the bank account."),
    "000444444440": ("invalid_currency", "The bank was unable to process this payout because of its currency."),
}
TEST_IBANS = {
    "DE89370400440532013000": None,
    "DE62370400440532013001": ("no_account", "The bank account details on file are probably incorrect. No bank account could be located with those details."),
    "DE62370400440532013002": ("account_closed", "The bank account has been closed."),
}
TEST_ROUTING_NUMBER = "110000000"
CURRENCY_OF_COUNTRY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "CH": "chf", "SE": "sek", "DK": "dkk", "NO": "nok", "PL": "pln"}

_accounts: dict[str, dict] = {}
_links: dict[str, dict] = {}
_transfers: dict[str, dict] = {}
_payouts: dict[str, dict] = {}  # connected accounts' payouts (platform payouts are localstripe's)
_balances: dict[str, dict[str, int]] = {}  # account -> currency -> available
_idempotency: dict[tuple, tuple] = {}
_platform = {"id": "acct_" + random_id(16), "object": "account", "type": "standard", "country": "US"}
_unsettled: set[str] = set()  # payouts whose bank has not answered yet (GET /_config/pending counts them)


class _Snapshot:
    """What localstripe's Event wants: an object with _export()."""

    def __init__(self, data: dict):
        self._data = data

    def _export(self, expand=None):
        return json.loads(json.dumps(self._data))


def _emit(event_type: str, obj: dict, *, account: str | None = None) -> None:
    """Store an event with localstripe's (so GET /v1/events/{id} finds it) and
    deliver it signed to the registered webhooks, about a second later."""
    event = Event(event_type, _Snapshot(_public(obj)))
    if account:
        event.account = account  # a Connect event names the connected account
    schedule_webhook(event)


def _error(status: int, message: str, *, code: str | None = None, param: str | None = None, type: str = "invalid_request_error"):
    body = {"error": {"type": type, "message": message}}
    if code:
        body["error"]["code"] = code
    if param:
        body["error"]["param"] = param
    return server.json_response(body, status=status)


class _Refused(Exception):
    def __init__(self, status, message, **kwargs):
        super().__init__(message)
        self.response = _error(status, message, **kwargs)


def _int(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _Refused(400, f"Invalid integer: {value}", param=name)
    return number


def _bool(value) -> bool:
    return value is True or str(value).lower() == "true"


def _metadata(value) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise _Refused(400, "Invalid metadata: must be an object", param="metadata")
    return {str(k): str(v) for k, v in value.items()}


def _list(url: str, items: list[dict], limit) -> dict:
    limit = _int(limit or 10, "limit")
    items = sorted(items, key=lambda o: o["created"], reverse=True)
    return {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}


# --- idempotency -------------------------------------------------------------------


async def _params(request) -> dict:
    return await server.get_post_data(request) or {}


def _idempotent(handler):
    """Stripe's idempotency: same key + same parameters -> the first response."""

    async def wrapped(request):
        params = await _params(request)
        key = request.headers.get("Idempotency-Key")
        if not key:
            return _run(handler, request, params)
        scope = (server.get_api_key(request), request.headers.get("Stripe-Account", ""), key)
        fingerprint = (request.method, request.path, json.dumps(params, sort_keys=True))
        if scope in _idempotency:
            first_fingerprint, status, body = _idempotency[scope]
            if first_fingerprint != fingerprint:
                return _error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                    f"Try using a key other than '{key}' if you meant to execute a different request.",
                    type="idempotency_error",
                )
            response = web.Response(status=status, body=body, content_type="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response
        response = _run(handler, request, params)
        if response.status < 500:  # Stripe does not keep a key whose request failed on its side
            _idempotency[scope] = (fingerprint, response.status, response.body)
        return response

    return wrapped


def _run(handler, request, params):
    try:
        return server.json_response(handler(request, params))
    except _Refused as refused:
        return refused.response


# --- accounts ---------------------------------------------------------------------

_ONBOARDING_DUE = [
    "business_type", "external_account", "individual.first_name", "individual.last_name",
    "tos_acceptance.date", "tos_acceptance.ip",
]


def _account_or_404(account_id: str) -> dict:
    account = _accounts.get(account_id)
    if account is None:
        raise _Refused(404, f"No such account: '{account_id}'", code="resource_missing", param="account")
    return account


def _create_account(request, params):
    account_type = params.get("type") or "express"
    if account_type not in ("express", "custom", "standard"):
        raise _Refused(400, f"Invalid type: {account_type}", param="type")
    country = (params.get("country") or "US").upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise _Refused(400, f"Invalid country: {country}", param="country")
    settings = params.get("settings") or {}
    schedule = ((settings.get("payouts") or {}).get("schedule") or {}) if isinstance(settings, dict) else {}
    interval = schedule.get("interval") or "daily"
    if interval not in ("manual", "daily", "weekly", "monthly"):
        raise _Refused(400, f"Invalid interval: {interval}", param="settings[payouts][schedule][interval]")
    account_id = "acct_" + random_id(16)
    account = {
        "id": account_id,
        "object": "account",
        "type": account_type,
        "country": country,
        "email": params.get("email"),
        "default_currency": CURRENCY_OF_COUNTRY.get(country, "eur"),
        "business_type": params.get("business_type"),
        "business_profile": {"name": None, "url": None, "product_description": None},
        "capabilities": {"transfers": "inactive"},
        "charges_enabled": False,
        "payouts_enabled": False,
        "details_submitted": False,
        "requirements": {
            "currently_due": list(_ONBOARDING_DUE), "eventually_due": list(_ONBOARDING_DUE), "past_due": list(_ONBOARDING_DUE),
            "pending_verification": [], "errors": [], "disabled_reason": "requirements.past_due", "current_deadline": None,
        },
        "settings": {
            "payouts": {"schedule": {"interval": interval, "delay_days": 2}, "debit_negative_balances": True, "statement_descriptor": None},
            "dashboard": {"display_name": None},
        },
        "external_accounts": {"object": "list", "data": [], "has_more": False, "url": f"/v1/accounts/{account_id}/external_accounts"},
        "tos_acceptance": {"date": None, "ip": None},
        "metadata": _metadata(params.get("metadata")),
        "created": int(time.time()),
        "livemode": False,
    }
    _accounts[account_id] = account
    _balances[account_id] = {}
    return account


def _update_account(request, params):
    account = _account_or_404(request.match_info["id"])
    for key in params:
        if key not in ("metadata", "email", "settings", "business_profile"):
            raise _Refused(400, f"Received unknown parameter: {key}", param=key)
    if "metadata" in params:
        account["metadata"].update(_metadata(params["metadata"]))
    if "email" in params:
        account["email"] = params["email"]
    schedule = ((params.get("settings") or {}).get("payouts") or {}).get("schedule") or {}
    if schedule.get("interval"):
        account["settings"]["payouts"]["schedule"]["interval"] = schedule["interval"]
    _emit("account.updated", account, account=account["id"])
    return account


def _enable(account: dict, *, holder: str, bank: dict) -> None:
    account.update(
        details_submitted=True, charges_enabled=True, payouts_enabled=True, business_type="individual",
        capabilities={"transfers": "active"},
        tos_acceptance={"date": int(time.time()), "ip": "127.0.0.1"},
    )
    account["requirements"] = {
        "currently_due": [], "eventually_due": [], "past_due": [], "pending_verification": [], "errors": [],
        "disabled_reason": None, "current_deadline": None,
    }
    account["settings"]["dashboard"]["display_name"] = holder
    account["external_accounts"]["data"] = [bank]
    account["external_accounts"]["total_count"] = 1


# --- account links and the hosted onboarding page --------------------------------------


def _create_account_link(request, params):
    account = _account_or_404(params.get("account") or "")
    link_type = params.get("type")
    if link_type not in ("account_onboarding", "account_update"):
        raise _Refused(400, "Invalid type: must be one of account_onboarding, account_update", param="type")
    for name in ("refresh_url", "return_url"):
        if not str(params.get(name) or "").startswith(("http://", "https://")):
            raise _Refused(400, f"Invalid URL: {name}", param=name)
    token = secrets.token_urlsafe(24)
    now = int(time.time())
    _links[token] = {
        "account": account["id"], "refresh_url": params["refresh_url"], "return_url": params["return_url"],
        "expires_at": now + ACCOUNT_LINK_TTL_S, "used": False,
    }
    host = f"{request.scheme}://{request.host}"
    return {"object": "account_link", "created": now, "expires_at": now + ACCOUNT_LINK_TTL_S, "url": f"{host}/connect/onboarding/{token}"}


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Set up payouts · Stripe stand-in</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1a1a2e}}
label{{display:block;margin:.8rem 0 .2rem;font-weight:600}}input,select{{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}}
button{{margin-top:1.2rem;padding:.6rem 1.2rem;font:inherit;background:#635bff;color:#fff;border:0;border-radius:6px}}
.note{{background:#f4f4ff;padding:.6rem .8rem;border-radius:6px;font-size:.9rem}}.error{{color:#b00020}}code{{font-size:.9em}}</style>
</head><body><h1>Set up payouts</h1>
<p class="note">This is the local Stripe stand-in's version of Stripe's hosted onboarding for account <code>{account}</code>.
Use a test bank account: routing <code>{routing}</code> with account <code>000123456789</code> (payouts succeed) or
<code>000111111116</code> (payouts fail: no such account); or IBAN <code>DE89370400440532013000</code>.</p>
{error}<form method="post">
<label for="name">Account holder</label><input id="name" name="name" required autocomplete="name" value="{name}">
<label for="country">Bank country</label><select id="country" name="bank_country">{countries}</select>
<label for="routing">Routing number (US)</label><input id="routing" name="routing_number" inputmode="numeric" value="{routing_value}">
<label for="number">Account number (US) or IBAN</label><input id="number" name="account_number" required autocomplete="off" value="{number}">
<label><input type="checkbox" name="tos" value="yes" required style="width:auto"> I accept the Connected Account Agreement</label>
<button type="submit">Agree and submit</button></form>
<p><a href="{leave}">Leave and finish later</a></p></body></html>"""


def _render_onboarding(token: str, link: dict, *, error: str = "", form=None) -> web.Response:
    form = form or {}
    account = _accounts[link["account"]]
    country = (form.get("bank_country") or account["country"]).upper()
    options = "".join(
        f'<option value="{c}"{" selected" if c == country else ""}>{c}</option>' for c in ("US", "DE", "FR", "GB", "NL", "ES", "IT")
    )
    page = _PAGE.format(
        account=html.escape(account["id"]), routing=TEST_ROUTING_NUMBER, countries=options,
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        name=html.escape(form.get("name", "")), routing_value=html.escape(form.get("routing_number", "")),
        number=html.escape(form.get("account_number", "")), leave=html.escape(link["return_url"]),
    )
    return web.Response(text=page, content_type="text/html", status=400 if error else 200)


def _bank_from_form(form, account: dict) -> tuple[dict | None, str]:
    name = (form.get("name") or "").strip()
    country = (form.get("bank_country") or "US").upper()
    number = re.sub(r"\s+", "", form.get("account_number") or "").upper()
    if not name:
        return None, "Enter the account holder's name."
    if form.get("tos") != "yes":
        return None, "Accept the agreement to continue."
    if country == "US":
        routing = re.sub(r"\s+", "", form.get("routing_number") or "")
        if routing != TEST_ROUTING_NUMBER or number not in TEST_BANK_ACCOUNTS:
            return None, f"Use routing {TEST_ROUTING_NUMBER} and one of the test account numbers."
        outcome, last4, currency = TEST_BANK_ACCOUNTS[number], number[-4:], "usd"
    else:
        if number not in TEST_IBANS:
            return None, "Use one of the test IBANs."
        outcome, last4, currency = TEST_IBANS[number], number[-4:], "eur"
        routing = None
    bank = {
        "id": "ba_" + random_id(24), "object": "bank_account", "account": account["id"], "account_holder_name": name,
        "account_holder_type": "individual", "bank_name": "STRIPE TEST BANK", "country": country, "currency": currency,
        "last4": last4, "routing_number": routing, "status": "new", "default_for_currency": True,
        "_payout_outcome": outcome,
    }
    return bank, ""


def _link_usable(token: str):
    link = _links.get(token)
    if link is None:
        return None, None
    if link["used"] or link["expires_at"] < time.time():
        return link, False
    return link, True


async def onboarding_page(request):
    link, usable = _link_usable(request.match_info["token"])
    if link is None:
        return web.Response(status=404, text="This link is not valid.")
    if not usable:
        raise web.HTTPFound(link["refresh_url"])
    if request.method == "GET":
        return _render_onboarding(request.match_info["token"], link)
    form = await request.post()
    account = _accounts[link["account"]]
    bank, error = _bank_from_form(form, account)
    if bank is None:
        return _render_onboarding(request.match_info["token"], link, error=error, form=form)
    link["used"] = True
    _enable(account, holder=form.get("name").strip(), bank=bank)
    _emit("account.updated", account, account=account["id"])
    raise web.HTTPFound(link["return_url"])


def _public(obj: dict) -> dict:
    """Without the stand-in's private fields (leading underscore), at any depth."""
    if isinstance(obj, dict):
        return {k: _public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [_public(v) for v in obj]
    return obj


# --- test knobs -----------------------------------------------------------------------


async def restrict_account(request):
    """What Stripe does when it disables an account: transfers and payouts stop."""
    account = _accounts.get(request.match_info["id"])
    if account is None:
        return _error(404, "No such account", code="resource_missing")
    params = await _params(request)
    reason = params.get("reason") or "rejected.fraud"
    account.update(payouts_enabled=False, charges_enabled=False, capabilities={"transfers": "inactive"})
    account["requirements"]["disabled_reason"] = reason
    _emit("account.updated", account, account=account["id"])
    return server.json_response(_public(account))


async def enable_account(request):
    account = _accounts.get(request.match_info["id"])
    if account is None:
        return _error(404, "No such account", code="resource_missing")
    account.update(payouts_enabled=True, charges_enabled=True, capabilities={"transfers": "active"})
    account["requirements"]["disabled_reason"] = None
    _emit("account.updated", account, account=account["id"])
    return server.json_response(_public(account))


# --- transfers --------------------------------------------------------------------------


def _create_transfer(request, params):
    amount = _int(params.get("amount"), "amount")
    if amount <= 0:
        raise _Refused(400, "This value must be greater than or equal to 1.", param="amount")
    currency = str(params.get("currency") or "").lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise _Refused(400, "Invalid currency", param="currency")
    destination = params.get("destination") or ""
    account = _accounts.get(destination)
    if account is None:
        raise _Refused(400, f"No such destination: '{destination}'", code="resource_missing", param="destination")
    if account["capabilities"].get("transfers") != "active":
        raise _Refused(
            400,
            "Your destination account needs to have at least one of the following capabilities enabled: transfers, legacy_payments",
            code="insufficient_capabilities_for_transfer", param="destination",
        )
    transfer_id = "tr_" + random_id(24)
    transfer = {
        "id": transfer_id, "object": "transfer", "amount": amount, "amount_reversed": 0, "currency": currency,
        "created": int(time.time()), "description": params.get("description"), "destination": destination,
        "destination_payment": "py_" + random_id(24), "livemode": False, "metadata": _metadata(params.get("metadata")),
        "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": f"/v1/transfers/{transfer_id}/reversals"},
        "reversed": False, "source_transaction": None, "transfer_group": params.get("transfer_group"),
        "balance_transaction": "txn_" + random_id(24),
    }
    _transfers[transfer_id] = transfer
    balance = _balances.setdefault(destination, {})
    balance[currency] = balance.get(currency, 0) + amount
    _emit("transfer.created", transfer)
    return transfer


def _transfer_or_404(transfer_id: str) -> dict:
    transfer = _transfers.get(transfer_id)
    if transfer is None:
        raise _Refused(404, f"No such transfer: '{transfer_id}'", code="resource_missing", param="id")
    return transfer


def _create_reversal(request, params):
    transfer = _transfer_or_404(request.match_info["id"])
    remaining = transfer["amount"] - transfer["amount_reversed"]
    amount = _int(params.get("amount") or remaining, "amount")
    if amount <= 0 or amount > remaining:
        raise _Refused(400, f"Amount must be at most the {remaining} not yet reversed.", param="amount")
    balance = _balances.setdefault(transfer["destination"], {})
    if balance.get(transfer["currency"], 0) < amount:
        raise _Refused(400, "Insufficient funds in the connected account to reverse this transfer.", code="balance_insufficient")
    balance[transfer["currency"]] -= amount
    reversal = {
        "id": "trr_" + random_id(24), "object": "transfer_reversal", "amount": amount, "currency": transfer["currency"],
        "created": int(time.time()), "metadata": _metadata(params.get("metadata")), "transfer": transfer["id"],
        "balance_transaction": "txn_" + random_id(24), "destination_payment_refund": "pyr_" + random_id(24),
    }
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["reversals"]["data"].insert(0, reversal)
    transfer["reversals"]["total_count"] += 1
    _emit("transfer.reversed", transfer)
    return reversal


# --- a connected account's payouts and balance ---------------------------------------------


def _create_connected_payout(account: dict, params) -> dict:
    amount = _int(params.get("amount"), "amount")
    currency = str(params.get("currency") or "").lower()
    if amount <= 0:
        raise _Refused(400, "This value must be greater than or equal to 1.", param="amount")
    banks = account["external_accounts"]["data"]
    if not banks or not account["payouts_enabled"]:
        raise _Refused(400, "This account cannot currently make payouts.", code="payouts_not_allowed")
    balance = _balances.setdefault(account["id"], {})
    if balance.get(currency, 0) < amount:
        raise _Refused(400, "You have insufficient funds in your Stripe account for this transfer.", code="balance_insufficient")
    balance[currency] -= amount
    bank = banks[0]
    payout = {
        "id": "po_" + random_id(24), "object": "payout", "amount": amount, "currency": currency,
        "arrival_date": int(time.time()) + 2 * 86400, "automatic": False, "balance_transaction": "txn_" + random_id(24),
        "created": int(time.time()), "description": params.get("description"), "destination": bank["id"],
        "failure_balance_transaction": None, "failure_code": None, "failure_message": None, "livemode": False,
        "metadata": _metadata(params.get("metadata")), "method": "standard", "source_type": "card",
        "statement_descriptor": params.get("statement_descriptor"), "status": "pending", "type": "bank_account",
    }
    _payouts[payout["id"]] = {"payout": payout, "account": account["id"]}
    _emit("payout.created", payout, account=account["id"])
    _unsettled.add(payout["id"])
    asyncio.get_event_loop().call_later(PAYOUT_DELAY_S, _settle_payout, payout["id"], bank.get("_payout_outcome"))
    return payout


def _settle_payout(payout_id: str, outcome) -> None:
    """The bank answers: paid, or failed (the money goes back to the account's balance)."""
    _unsettled.discard(payout_id)  # its event, if any, is counted as a delivery from here on
    record = _payouts[payout_id]
    payout = record["payout"]
    if payout["status"] != "pending":
        return
    if outcome is None:
        payout["status"] = "paid"
        _emit("payout.paid", payout, account=record["account"])
        return
    payout.update(status="failed", failure_code=outcome[0], failure_message=outcome[1], failure_balance_transaction="txn_" + random_id(24))
    balance = _balances.setdefault(record["account"], {})
    balance[payout["currency"]] = balance.get(payout["currency"], 0) + payout["amount"]
    _emit("payout.failed", payout, account=record["account"])


def unsettled_payouts() -> int:
    return len(_unsettled)


def _balance_of(account_id: str) -> dict:
    balance = _balances.get(account_id, {})
    available = [{"amount": amount, "currency": currency, "source_types": {"card": amount}} for currency, amount in balance.items()]
    return {"object": "balance", "livemode": False, "available": available or [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
            "pending": [{"amount": 0, "currency": c or "usd", "source_types": {"card": 0}} for c in (list(balance) or ["usd"])]}


@web.middleware
async def connected_account_middleware(request, handler):
    """Requests made on behalf of a connected account (the Stripe-Account
    header) to payouts and balance are served here; the hosted onboarding
    page needs no API key. Everything else goes on to localstripe."""
    if request.path.startswith("/connect/onboarding/"):
        return await onboarding_page(request)  # its route's handler, without the key check after us
    on_behalf = request.headers.get("Stripe-Account")
    if not on_behalf or not (request.path.startswith("/v1/payouts") or request.path == "/v1/balance"):
        return await handler(request)
    if server.get_api_key(request) is None:
        return _error(401, "Invalid API Key provided", type="invalid_request_error")
    account = _accounts.get(on_behalf)
    if account is None:
        return _error(403, f"The provided key does not have access to account '{on_behalf}' (or that account does not exist).",
                      type="invalid_request_error", code="account_invalid")
    if request.path == "/v1/balance" and request.method == "GET":
        return server.json_response(_balance_of(on_behalf))
    if request.path == "/v1/payouts" and request.method == "POST":
        return await _idempotent(lambda req, params: _create_connected_payout(account, params))(request)
    if request.path == "/v1/payouts" and request.method == "GET":
        mine = [r["payout"] for r in _payouts.values() if r["account"] == on_behalf]
        return server.json_response(_list("/v1/payouts", mine, request.query.get("limit")))
    match = re.fullmatch(r"/v1/payouts/(po_\w+)", request.path)
    if match and request.method == "GET":
        record = _payouts.get(match.group(1))
        if record is None or record["account"] != on_behalf:
            return _error(404, f"No such payout: '{match.group(1)}'", code="resource_missing", param="id")
        return server.json_response(record["payout"])
    return _error(404, "Unrecognized request URL", type="invalid_request_error")


def _get(handler):
    def wrapped(request):
        try:
            return server.json_response(_public(handler(request, server.unflatten_data(request.query))))
        except _Refused as refused:
            return refused.response

    return wrapped


def _post(handler):
    def public(request, params):
        return _public(handler(request, params))

    return _idempotent(public)


def install(app: web.Application) -> None:
    """Add Connect to localstripe's application (before it starts)."""
    # After localstripe's error handler, before its API-key check: the hosted
    # onboarding page is opened by a person's browser, with no key.
    app.middlewares.insert(1, connected_account_middleware)
    routes = [
        ("GET", "/v1/account", _get(lambda request, query: _platform)),
        ("POST", "/v1/accounts", _post(_create_account)),
        ("GET", "/v1/accounts", _get(lambda request, query: _list("/v1/accounts", list(_accounts.values()), query.get("limit")))),
        ("GET", "/v1/accounts/{id}", _get(lambda request, query: _account_or_404(request.match_info["id"]))),
        ("POST", "/v1/accounts/{id}", _post(_update_account)),
        ("POST", "/v1/account_links", _post(_create_account_link)),
        ("POST", "/v1/transfers", _post(_create_transfer)),
        ("GET", "/v1/transfers", _get(lambda request, query: _list("/v1/transfers", [
            t for t in _transfers.values()
            if query.get("transfer_group") in (None, t["transfer_group"]) and query.get("destination") in (None, t["destination"])
        ], query.get("limit")))),
        ("GET", "/v1/transfers/{id}", _get(lambda request, query: _transfer_or_404(request.match_info["id"]))),
        ("POST", "/v1/transfers/{id}/reversals", _post(_create_reversal)),
        ("GET", "/v1/transfers/{id}/reversals", _get(lambda request, query: _transfer_or_404(request.match_info["id"])["reversals"])),
        ("GET", "/connect/onboarding/{token}", onboarding_page),
        ("POST", "/connect/onboarding/{token}", onboarding_page),
        ("POST", "/_config/connect/accounts/{id}/restrict", restrict_account),
        ("POST", "/_config/connect/accounts/{id}/enable", enable_account),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)


install(server.app)
