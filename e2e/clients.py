"""Clients of a deployed Digis: HTTP through a pretend TLS proxy, and the /ws/ socket.

The production settings run behind one TLS-terminating proxy
(``SECURE_PROXY_SSL_HEADER``, ``TRUSTED_PROXY_COUNT=1``), so every request here
carries what that proxy adds: ``X-Forwarded-Proto: https`` and the client's
address appended to ``X-Forwarded-For``. Cookies are kept by hand because the
session and CSRF cookies are ``Secure`` and the wire between the pretend proxy
and daphne is plain HTTP.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
from http.cookies import SimpleCookie

import httpx
import websockets

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def in_own_loop(scenario):
    """Run an async test in a fresh event loop on a thread of its own.

    pytest-asyncio refuses to start its loop while another one is running in
    the main thread, and the browser tier's session-wide sync Playwright keeps
    one running there until the session ends; so the production tier's socket
    tests, which run after it, drive their loop where nothing else does.
    """

    @functools.wraps(scenario)
    def test(*args, **kwargs):
        outcome = {}

        def run():
            try:
                outcome["result"] = asyncio.run(scenario(*args, **kwargs))
            except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
                outcome["error"] = error

        thread = threading.Thread(target=run, name=f"loop:{scenario.__name__}")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")

    return test


class ProxyClient:
    """A person's browser behind the proxy: cookies, CSRF, forms, JSON."""

    def __init__(self, base_url: str, *, client_ip: str = "127.0.0.1", timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.host = self.base_url.split("://", 1)[1]
        self.client_ip = client_ip
        self.cookies: dict[str, str] = {}
        self.bearer: str | None = None
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def headers(self, extra: dict | None = None, *, forwarded_for: str | None = None) -> dict:
        # What the proxy adds: the scheme it terminated, and the address it saw
        # appended to whatever X-Forwarded-For the client itself sent.
        sent = (extra or {}).pop("X-Forwarded-For", None) if extra else None
        chain = ", ".join(part for part in (sent, forwarded_for or self.client_ip) if part)
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": chain, "Origin": f"https://{self.host}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
            headers["Referer"] = f"https://{self.host}/"
        headers.update(extra or {})
        return headers

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> httpx.Response:
        response = self.http.request(method, path, headers=self.headers(dict(headers or {})), **kwargs)
        self._keep_cookies(response)
        return response

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def form(self, path: str, data: dict, *, page: str | None = None) -> httpx.Response:
        """Submit a form the way a browser does: load its page for the CSRF token, then POST."""
        page_response = self.get(page or path)
        match = CSRF_FIELD.search(page_response.text)
        fields = dict(data)
        if match:
            fields["csrfmiddlewaretoken"] = match.group(1)
        return self.post(path, data=fields, headers={"Referer": f"https://{self.host}{page or path}"})

    def sign_in(self, username: str, password: str) -> httpx.Response:
        response = self.form("/accounts/login/", {"username": username, "password": password})
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return response

    def token(self, username: str, password: str) -> str:
        response = self.post("/api/auth/token/", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        self.bearer = response.json()["access"]
        return self.bearer


class Socket:
    """One tab's /ws/ socket, authenticated by the session cookie or a bearer token."""

    def __init__(self, ws):
        self.ws = ws
        self.seen: list[dict] = []

    @classmethod
    async def open(cls, base_url: str, *, client: ProxyClient | None = None, token: str | None = None,
                   origin: str | None = None, **kwargs) -> "Socket":
        host = base_url.split("://", 1)[1].rstrip("/")
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"}
        if client is not None and client.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        subprotocols = ["digis.bearer", token] if token else None
        ws = await websockets.connect(
            f"ws://{host}/ws/", origin=origin or f"https://{host}", additional_headers=headers,
            subprotocols=subprotocols, open_timeout=10, ping_interval=None, max_size=2**22, **kwargs,
        )
        socket = cls(ws)
        hello = await socket.expect("hello")
        assert hello["type"] == "hello"
        return socket

    async def send(self, event: dict) -> None:
        await self.ws.send(json.dumps(event))

    async def expect(self, event_type: str, *, timeout: float = 10.0, where=lambda event: True) -> dict:
        for index, event in enumerate(self.seen):
            if event["type"] == event_type and where(event):
                return self.seen.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {event_type!r} event in {timeout}s (saw {[e['type'] for e in self.seen]})")
            event = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            if event["type"] == event_type and where(event):
                return event
            self.seen.append(event)

    async def close(self) -> None:
        await self.ws.close()
