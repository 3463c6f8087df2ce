"""Run localstripe (the Stripe stand-in of the embedded default and the tests).

Two differences from ``python -m localstripe``, both deliberate:
- it listens on 127.0.0.1 only (localstripe's own entry point binds every
  interface, IPv4 and IPv6);
- it says how much work it still has scheduled (``GET /_config/pending``):
  events wait a second before delivery and are sent to whatever webhook is
  registered *then*, so a test that registers its server must first let the
  previous test's late events drain (payments/tests/conftest.py);
- it keeps its state in memory. localstripe pickles its whole store to the
  fixed path /tmp/localstripe.pickle after every write: every instance on the
  machine (several test runs at once) would share and overwrite that file, and
  the pickling costs time on every request.

Usage:
  python -m payments.localstripe_server --port 8420          # serve
  python -m payments.localstripe_server --port 8420 --register-webhook URL --secret S
      # wait until it answers, then tell it where to send signed events
"""

import argparse
import json
import logging
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from aiohttp import web


def register_webhook(*, api_host: str, url: str, secret: str, name: str = "digis", wait_s: float = 15.0) -> None:
    """Tell localstripe to sign events with ``secret`` and POST them to ``url``."""
    body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            request = urllib.request.Request(f"{api_host.rstrip('/')}/_config/webhooks/{name}", data=body, method="POST")
            with urllib.request.urlopen(request, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the server is still starting


def wait_until_idle(api_host: str, wait_s: float = 15.0) -> None:
    """Wait until no event is waiting for delivery and no payout for its bank."""
    deadline = time.monotonic() + wait_s
    while True:
        with urllib.request.urlopen(f"{api_host.rstrip('/')}/_config/pending", timeout=2) as response:
            pending = json.load(response)
        if not any(pending.values()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"localstripe still busy after {wait_s} s: {pending}")
        time.sleep(0.05)


def count_pending_work(app: web.Application) -> None:
    """Count deliveries in flight (localstripe's schedule_webhook looks up
    _send_webhook at call time, so wrapping it catches every event) and serve
    the counts with the payouts still waiting for their bank."""
    from localstripe import webhooks

    import payouts.localstripe_connect as connect

    send = webhooks._send_webhook
    in_flight = {"deliveries": 0}

    async def counted(event):
        in_flight["deliveries"] += 1
        try:
            await send(event)
        finally:
            in_flight["deliveries"] -= 1

    webhooks._send_webhook = counted

    async def pending(request):
        return web.json_response({"deliveries": in_flight["deliveries"], "payouts": connect.unsettled_payouts()})

    app.router.add_route("GET", "/_config/pending", pending)


def wait_until_up(api_host: str, wait_s: float = 15.0) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(f"{api_host.rstrip('/')}/js.stripe.com/v3/", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--register-webhook", metavar="URL", help="register URL with a running server, then exit")
    parser.add_argument("--secret", help="the webhook signing secret (with --register-webhook)")
    parser.add_argument("--wait", action="store_true", help="wait until a running server answers, then exit")
    args = parser.parse_args()
    api_host = f"http://{args.host}:{args.port}"
    if args.wait:
        wait_until_up(api_host)
        return
    if args.register_webhook:
        if not args.secret:
            sys.exit("--secret is required with --register-webhook")
        register_webhook(api_host=api_host, url=args.register_webhook, secret=args.secret)
        return

    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None

    from payments import localstripe_cards

    localstripe_cards.patch_resources()  # Stripe's test cards (declines, expiry, 3-D Secure)

    from localstripe import server  # imported after the patch: it builds the app
    import payouts.localstripe_connect  # noqa: F401  (adds Stripe Connect: accounts, links, transfers, payouts)

    localstripe_cards.serve_stand_in_js(server.app)
    count_pending_work(server.app)

    logging.basicConfig(level=logging.WARNING)
    web.run_app(server.app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
