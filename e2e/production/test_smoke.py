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
