"""Bad input is a 4xx with a code, never a 500: NUL characters, deep JSON, forged cursors, bad origins."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from digis import jsonparse
from digis.asgi import application

pytestmark = pytest.mark.django_db


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


class TestNullCharacters:
    @pytest.mark.parametrize("path", ["/api/creators/?q=a%00b", "/api/creators/%00/", "/api/creators/%00/follow/"])
    def test_api_answers_400_with_a_code(self, api, alice, path):
        api.force_authenticate(alice)
        response = api.get(path) if "follow" not in path else api.post(path)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "null_character"

    def test_pages_answer_400(self, client):
        assert client.get("/explore/?q=%00").status_code == 400
        assert client.get("/@%00").status_code == 400

    def test_nul_inside_a_json_string_is_refused(self, api, alice):
        api.force_authenticate(alice)
        response = api.patch("/api/me/", data=json.dumps({"display_name": "a\u0000b"}), content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "null_character"


class TestDeepJSON:
    def test_json_nested_1000_deep_is_a_400_with_a_code(self, api, alice):
        api.force_authenticate(alice)
        response = api.patch("/api/me/", data=deep(1000), content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "too_deep"

    def test_ordinary_nesting_parses(self):
        assert jsonparse.loads(deep(jsonparse.MAX_DEPTH)) is not None
        with pytest.raises(jsonparse.UnacceptableJSON):
            jsonparse.loads(deep(jsonparse.MAX_DEPTH + 1))

    def test_a_deep_map_key_path_counts_too(self):
        nested = {}
        inner = nested
        for _ in range(40):
            inner["k"] = {}
            inner = inner["k"]
        with pytest.raises(jsonparse.UnacceptableJSON):
            jsonparse.check(nested)


def test_an_explore_cursor_of_the_wrong_shape_is_a_400(client, api):
    import base64

    for payload in (["popular"], ["popular", 5], ["online", 1, 2], ["new", 3, 4], ["popular", 1, 2, 3]):
        cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        response = api.get(f"/api/creators/?cursor={cursor}" + ("&sort=" + payload[0] if payload[0] != "popular" else ""))
        assert response.status_code == 400, payload
        assert response.json()["error"]["code"] == "invalid_cursor"
        assert client.get(f"/explore/?cursor={cursor}").status_code == 400


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deep_json_over_the_socket_is_an_error_event_and_the_socket_stays_open(alice):
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(_session_cookie)(alice)
    ws = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://127.0.0.1:8000"), (b"cookie", cookie)])
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "hello"
    await ws.send_to(text_data=deep(1000))
    error = await ws.receive_json_from()
    assert error == {"type": "error", "code": "malformed_event", "message": error["message"]}
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from())["type"] == "pong"
    await ws.disconnect()


class TestSocketOrigin:
    @pytest.mark.parametrize(
        "origin, host, allowed",
        [
            ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
            ("http://localhost:8000", "localhost:8000", True),
            ("http://127.0.0.1:8080", "127.0.0.1:8000", False),  # another port on an allowed host
            ("https://127.0.0.1:8000", "127.0.0.1:8000", False),  # another scheme
            ("http://evil.example", "127.0.0.1:8000", False),
            ("null", "127.0.0.1:8000", False),
            (None, "127.0.0.1:8000", False),
        ],
    )
    def test_only_the_sites_own_origin_may_open_a_socket(self, origin, host, allowed):
        from digis.realtime.origin import origin_allowed

        headers = [(b"host", host.encode())]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        assert origin_allowed({"type": "websocket", "scheme": "ws", "headers": headers}) is allowed

    def test_behind_the_tls_proxy_the_origin_is_https(self, settings):
        from digis.realtime.origin import origin_allowed

        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        scope = {"type": "websocket", "scheme": "ws", "headers": [
            (b"host", b"127.0.0.1:8000"), (b"x-forwarded-proto", b"https"), (b"origin", b"https://127.0.0.1:8000"),
        ]}
        assert origin_allowed(scope)
        scope["headers"][-1] = (b"origin", b"http://127.0.0.1:8000")
        assert not origin_allowed(scope)
