"""``python -m digis.server``: daphne, refusing oversized request bodies as they arrive.

daphne (on Twisted) reads a request's whole body into memory or a temporary
file before the application sees the request, so Django's own size limits
(DATA_UPLOAD_MAX_MEMORY_SIZE) only answered after a 60 MiB upload had been
received in full. Here a body larger than ``HTTP_MAX_BODY_BYTES`` is refused
with 413 as soon as its Content-Length is known (or, without one, as soon as
that many bytes have arrived), and the connection is closed without reading
the rest.

It also stops Twisted from parsing form bodies itself (it answered a bare 400
to a malformed multipart body, before Django could answer in the API's shape).

This leans on daphne's internals (its ``WebRequest`` and ``HTTPFactory`` and
``daphne.server`` building the factory by that name) and on Twisted's
``Request.gotLength``/``handleContentChunk`` hooks and its
``parsePOSTFormSubmission`` switch. daphne is pinned in
requirements.txt; ``digis/tests/test_server.py`` fails if those shapes change
(docs/architecture.md, "Where we lean on internals").

Everything else is daphne's command line, unchanged: the Procfile's ``web``
line and ``make run`` pass it the usual daphne arguments.
"""

import json
import os
import sys

from daphne import http_protocol

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digis.settings")


def _max_body_bytes() -> int:
    from django.conf import settings

    return int(settings.HTTP_MAX_BODY_BYTES)


class BodyLimitedWebRequest(http_protocol.WebRequest):
    max_body_bytes = 12 * 1024 * 1024  # replaced from settings by install()
    _received = 0
    _refused = False

    def __init__(self, *args, **kwargs):
        # Twisted parses POSTed form and multipart bodies itself before daphne
        # sees the request (into request.args, which daphne never reads) and
        # answers a bare "400 Bad Request" with no body of its own when a
        # multipart body is malformed: the API's error shape never reached the
        # client. Django parses the body; Twisted need not.
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(*args, **kwargs)

    def gotLength(self, length):
        if length is not None and length > self.max_body_bytes:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.max_body_bytes:
            self._refuse()
            return
        super().handleContentChunk(data)

    def _refuse(self) -> None:
        """413 in the API's error shape, then close: the rest of the body is never read."""
        self._refused = True
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"The request body is larger than {self.max_body_bytes} bytes.",
                    "fields": {},
                    "request_id": None,
                }
            }
        ).encode()
        self.channel.transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.channel.loseConnection()


class BodyLimitedHTTPFactory(http_protocol.HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BodyLimitedWebRequest
        return protocol


def install(max_body_bytes: int | None = None) -> None:
    """Make daphne's servers in this process build body-limited requests."""
    import daphne.server

    BodyLimitedWebRequest.max_body_bytes = max_body_bytes if max_body_bytes is not None else _max_body_bytes()
    daphne.server.HTTPFactory = BodyLimitedHTTPFactory


def main(argv: list[str] | None = None) -> None:
    from daphne.cli import CommandLineInterface

    install()
    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
