"""The deployment answers at all: pages, the API, readiness, static files from the manifest."""


def test_readyz_reports_every_backing_service(deployment, visitor):
    response = visitor.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == []


def test_plain_http_is_redirected_to_https(deployment):
    import httpx

    response = httpx.get(deployment.url("/explore/"), headers={"X-Forwarded-For": "127.0.0.1"})
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://")


def test_web_processes_listen_on_loopback_only(deployment):
    """The Procfile binds ${BIND_ADDRESS:-0.0.0.0}; the tier sets loopback, and
    no web process of it may listen on every interface of the machine."""
    listening = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                address, port = fields[1].split(":")
                if fields[3] == "0A":  # LISTEN
                    listening.setdefault(int(port, 16), set()).add(address)
    for web in deployment.web_processes:
        assert listening.get(web.port) == {"0100007F"}, (web.port, listening.get(web.port))
