"""Run localstripe (the Stripe stand-in of the embedded default and the tests).

Two differences from ``python -m localstripe``, both deliberate:
- it listens on 127.0.0.1 only (localstripe's own entry point binds every
  interface, IPv4 and IPv6);
- it keeps its state in memory. localstripe pickles its whole store to the
  fixed path /tmp/localstripe.pickle after every write: every instance on the
  machine (several test runs at once) would share and overwrite that file, and
  the pickling costs time on every request.

Usage: python -m payments.localstripe_server --port 8420
"""

import argparse
import logging

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()

    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None

    from localstripe import server  # imported after the patch: it builds the app

    logging.basicConfig(level=logging.WARNING)
    web.run_app(server.app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
