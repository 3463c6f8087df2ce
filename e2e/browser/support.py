"""Helpers the browser tests share (fixtures are in conftest.py)."""

DEMO_PASSWORD = "digis-demo-pass"


def sign_in_quietly(context, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign the context in through the sign-in form's POST (no page drawn):
    the sign-in flow itself is tested through the page in test_accounts."""
    login = context.request.get("/accounts/login/")
    assert login.ok, login.status
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = context.request.post(
        "/accounts/login/",
        form={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"},
    )
    assert response.ok, response.status
    assert any(c["name"] == "sessionid" for c in context.cookies()), f"signing in as {username} failed"


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scrolling)."""
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth")
