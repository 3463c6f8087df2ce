"""digis.server leans on daphne's and Twisted's internals: fail loudly if their shape changes."""

import inspect

from daphne import http_protocol
from twisted.web import http

from digis import server


def test_daphne_builds_its_http_factory_by_the_name_we_replace():
    import daphne.server

    assert "HTTPFactory(self)" in inspect.getsource(daphne.server.Server.run)
    assert "protocol.requestFactory = WebRequest" in inspect.getsource(http_protocol.HTTPFactory.buildProtocol)


def test_twisted_still_has_the_hooks_we_override():
    assert "self.gotLength(" in inspect.getsource(http.HTTPChannel) or "gotLength" in inspect.getsource(http.HTTPChannel)
    assert "def handleContentChunk" in inspect.getsource(http.Request)
    assert "_parsePOSTFormSubmission" in inspect.getsource(http.Request.requestReceived)
    assert "parsePOSTFormSubmission" in inspect.signature(http.Request.__init__).parameters


def test_install_swaps_the_factory_and_sets_the_limit():
    import daphne.server

    original = daphne.server.HTTPFactory
    try:
        server.install(max_body_bytes=1234)
        assert daphne.server.HTTPFactory is server.BodyLimitedHTTPFactory
        assert server.BodyLimitedWebRequest.max_body_bytes == 1234
        assert issubclass(server.BodyLimitedWebRequest, http_protocol.WebRequest)
    finally:
        daphne.server.HTTPFactory = original
