"""The edge as deployed: forged client addresses, hostile input, oversized bodies, foreign origins."""

import asyncio
import json
import socket
import time

import pytest
import websockets

from e2e.clients import ProxyClient, Socket, in_own_loop


def test_a_forged_x_forwarded_for_does_not_bypass_per_address_limits(deployment):
    # The proxy appends the address it saw (203.0.113.7); whatever the client
    # put before it is ignored (TRUSTED_PROXY_COUNT=1, daphne without --proxy-headers).
    attacker = ProxyClient(deployment.url(), client_ip="203.0.113.7")
    statuses = []
    for i in range(30):
        response = attacker.post(
            "/api/auth/token/",
            json={"username": f"nobody{i}", "password": "wrong-password"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        statuses.append(response.status_code)
    attacker.close()
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}, statuses
    limited = [s for s in statuses if s == 429]
    print(f"\nforged X-Forwarded-For: {len(limited)} of 30 failed sign-ins refused with 429")


@pytest.mark.parametrize(
    "path",
    ["/api/creators/?q=a%00b", "/explore/?q=%00", "/api/creators/%00/", "/@%00", "/explore/?cursor=WyJwb3B1bGFyIl0"],
)
def test_hostile_query_strings_and_paths_are_4xx(deployment, visitor, path):
    response = visitor.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)


def test_json_nested_1000_deep_is_a_400(deployment, signed_in):
    alice = signed_in("alice")
    response = alice.request("PATCH", "/api/me/", content="[" * 1000 + "]" * 1000, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_deep"
    assert not deployment.server_errors()


@in_own_loop
async def test_deep_json_over_the_socket_is_refused_and_the_socket_lives(deployment, signed_in):
    alice = signed_in("alice")
    ws = await Socket.open(deployment.url(), client=alice)
    await ws.ws.send("[" * 1000 + "]" * 1000)
    error = await ws.expect("error")
    assert error["code"] == "malformed_event"
    await ws.send({"type": "ping"})
    await ws.expect("pong")
    await ws.close()


def test_a_60_mib_body_is_refused_with_413_before_it_is_read(deployment):
    port = deployment.web_processes[0].port
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /api/auth/register/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(60 * 1024 * 1024).encode() + b"\r\n\r\n"
            + b"{" * 65536  # a first slice of the body; the rest is never sent
        )
        response = conn.recv(65536)
    elapsed = time.monotonic() - started
    status_line = response.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Payload Too Large", response[:200]
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "payload_too_large"
    assert elapsed < 5


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:{port}", "https://127.0.0.1:1"])
@in_own_loop
async def test_sockets_from_another_origin_are_refused(deployment, signed_in, origin):
    alice = signed_in("alice")
    port = deployment.web_processes[0].port
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await Socket.open(deployment.url(), client=alice, origin=origin.format(port=port))
    assert refused.value.response.status_code == 403
