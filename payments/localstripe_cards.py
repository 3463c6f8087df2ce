"""Stripe's documented test cards, honoured by localstripe (the embedded default's Stripe).

localstripe 1.15 accepts almost any card: the decline card 4000 0000 0000 0002
and a card that expired years ago are both charged, so the failure paths of
buying tokens could never be seen or tested. ``install()`` (called by
``payments.localstripe_server`` before it serves) makes it answer as Stripe's
test mode does (https://docs.stripe.com/testing):

- card details: a number that is not digits or fails the Luhn check, a month
  outside 1-12, an expiry in the past, a CVC that is not 3-4 digits are refused
  with a 402 ``card_error`` and Stripe's code and message (``incorrect_number``,
  ``invalid_expiry_month``, ``invalid_expiry_year``, ``invalid_cvc``), never a
  bare "Bad request";
- the decline cards (``DECLINES``) are declined when the PaymentIntent is
  confirmed, with Stripe's ``code``, ``decline_code`` and message, on the
  charge, on ``last_payment_error`` and in the ``payment_intent.payment_failed``
  event;
- the 3-D Secure cards (``4000 0025 0000 3155``, ``4000 0000 0000 3220``, ...)
  already ask for authentication in localstripe; a failed authentication now
  also sends ``payment_intent.payment_failed``, as Stripe does;
- the page gets a Stripe.js stand-in with a labelled card form that takes what
  people type (``localstripe_stripe_v3.js``) instead of localstripe's.

``patch_resources()`` must run before ``localstripe.server`` is imported (its
route table holds the functions it was built with); ``serve_stand_in_js(app)``
after.

Only localstripe is changed here, never how Digis talks to Stripe: the same
calls meet the same answers from Stripe itself.
"""

import datetime as dt
from pathlib import Path

from aiohttp import web

# number -> (code, decline_code, message), as Stripe's test mode answers them.
DECLINES = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000000000009987": ("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": ("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    "4000000000000119": ("processing_error", "processing_error", "An error occurred while processing your card. Try again in a little bit."),
    "4100000000000019": ("card_declined", "fraudulent", "Your card was declined."),
    # Attaching works; the charge is declined (localstripe's own list).
    "4000000000000341": ("card_declined", "generic_decline", "Your card was declined."),
    # 3-D Secure, then declined for lack of funds.
    "4000008260003178": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000008400001629": ("card_declined", "card_declined", "Your card was declined."),
}
STAND_IN_JS = Path(__file__).with_name("localstripe_stripe_v3.js")


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_problem(card: dict, *, today: dt.date | None = None) -> tuple[str, str, str] | None:
    """(code, param, message) of what Stripe would refuse in these card details, or None."""
    today = today or dt.date.today()
    number = card.get("number")
    if not isinstance(number, str) or not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
        return "incorrect_number", "number", "Your card number is incorrect."
    try:
        month = int(card.get("exp_month"))
    except (TypeError, ValueError):
        month = 0
    if not 1 <= month <= 12:
        return "invalid_expiry_month", "exp_month", "Your card's expiration month is invalid."
    try:
        year = int(card.get("exp_year"))
    except (TypeError, ValueError):
        year = 0
    if 0 < year < 100:
        year += 2000
    if year < today.year or year > today.year + 50:
        return "invalid_expiry_year", "exp_year", "Your card's expiration year is invalid."
    if year == today.year and month < today.month:
        return "invalid_expiry_month", "exp_month", "Your card's expiration month is invalid."
    cvc = card.get("cvc")
    if cvc is not None and (not isinstance(cvc, str) or not cvc.isdigit() or len(cvc) not in (3, 4)):
        return "invalid_cvc", "cvc", "Your card's security code is invalid."
    return None


def _refuse_bad_card(card) -> None:
    from localstripe.errors import UserError

    if not isinstance(card, dict):
        return  # localstripe's own check answers
    problem = card_problem(card)
    if problem:
        code, param, message = problem
        raise UserError(402, message, {"code": code, "param": param, "type": "card_error"})


def _card_number(payment_method_id) -> str:
    from localstripe.resources import PaymentMethod

    try:
        return getattr(PaymentMethod._api_retrieve(payment_method_id), "_card_number", "") or ""
    except Exception:
        return ""


def patch_resources() -> None:
    """Make localstripe's cards, charges and PaymentIntents answer as Stripe's test mode. Idempotent."""
    from localstripe import resources
    from localstripe.resources import Card, Charge, Event, PaymentIntent, PaymentMethod, schedule_webhook

    if getattr(resources, "_digis_test_cards", False):
        return
    resources._digis_test_cards = True

    # Card details, checked as Stripe checks them, before localstripe's own asserts.
    card_init = Card.__init__

    def checked_card_init(self, source=None, **kwargs):
        _refuse_bad_card(source)
        card_init(self, source=source, **kwargs)

    Card.__init__ = checked_card_init

    payment_method_init = PaymentMethod.__init__

    def checked_payment_method_init(self, type=None, billing_details=None, card=None, **kwargs):
        if type == "card":
            _refuse_bad_card(card)
        payment_method_init(self, type=type, billing_details=billing_details, card=card, **kwargs)

    PaymentMethod.__init__ = checked_payment_method_init

    # Declined when charged (confirming a PaymentIntent charges the card).
    for cls in (Card, PaymentMethod):
        charging_is_declined = cls._charging_is_declined

        def declined(self, _own=charging_is_declined):
            return getattr(self, "_card_number", None) in DECLINES or _own(self)

        cls._charging_is_declined = declined

    def set_auth_failure(self):
        code, decline_code, message = DECLINES.get(
            _card_number(self.payment_method), ("card_declined", "generic_decline", "Your card was declined.")
        )
        self.status = "failed"
        self.failure_code = code
        self.failure_message = message
        self.outcome = {"type": "issuer_declined", "reason": decline_code, "seller_message": "The bank declined the payment."}
        self._decline_code = decline_code

    Charge._set_auth_failure = set_auth_failure

    def raise_failure(self):
        from localstripe.errors import UserError

        raise UserError(
            402,
            self.failure_message,
            {"code": self.failure_code, "decline_code": getattr(self, "_decline_code", None), "charge": self.id, "type": "card_error"},
        )

    Charge._raise_failure = raise_failure

    last_payment_error = PaymentIntent.last_payment_error.fget

    def last_payment_error_with_decline_code(self):
        error = last_payment_error(self)
        if error and self.latest_charge is not None and getattr(self.latest_charge, "_decline_code", None):
            error = {**error, "decline_code": self.latest_charge._decline_code, "type": "card_error"}
        return error

    PaymentIntent.last_payment_error = property(last_payment_error_with_decline_code)

    # After a decline Stripe lets the same PaymentIntent be paid with another
    # card (status requires_payment_method); localstripe kept the failed charge
    # and refused a second confirm.
    update = PaymentIntent._api_update.__func__

    def update_for_another_card(cls, id, **data):
        if data.get("payment_method"):
            obj = cls._api_retrieve(id)
            if obj.status == "requires_payment_method" and obj.latest_charge is not None:
                obj.latest_charge = None
                obj._authentication_failed = False
        return update(cls, id, **data)

    PaymentIntent._api_update = classmethod(update_for_another_card)

    # A failed 3-D Secure authentication is a failed payment, and Stripe says so.
    authenticate = PaymentIntent._api_authenticate.__func__

    def authenticate_and_report(cls, id, client_secret=None, success=False, **kwargs):
        obj = authenticate(cls, id, client_secret=client_secret, success=success, **kwargs)
        if getattr(obj, "_authentication_failed", False):
            schedule_webhook(Event("payment_intent.payment_failed", obj))
        return obj

    PaymentIntent._api_authenticate = classmethod(authenticate_and_report)
    # The route table holds the function it was built with: point it at ours.
    resources.extra_apis[:] = [
        (method, url, PaymentIntent._api_authenticate if url.endswith("/_authenticate") else func)
        for method, url, func in resources.extra_apis
    ]


def serve_stand_in_js(app: web.Application) -> None:
    """Answer /js.stripe.com/v3/ with the stand-in Stripe.js instead of localstripe's."""
    script = STAND_IN_JS.read_text()

    @web.middleware
    async def stand_in_js(request, handler):
        if request.method == "GET" and request.path.rstrip("/") == "/js.stripe.com/v3":
            return web.Response(text=script, content_type="application/javascript", headers={"Cache-Control": "no-store"})
        return await handler(request)

    app.middlewares.insert(0, stand_in_js)
