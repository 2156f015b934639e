"""Helpers shared by the owner-page tests (tests/test_admin_*.py); their fixtures are in conftest.py."""
from urllib.parse import quote

from tests.conftest import csrf_token_from

OWNER = "owner"
PASSWORD = "correct horse battery"



def login(client, username=OWNER, password=PASSWORD, next_=None, environ_base=None):
    """Log in through the real form (GET for the CSRF token, then POST); return the POST response."""
    url = "/admin/login" + (f"?next={quote(next_, safe='')}" if next_ else "")
    environ_base = environ_base or {}
    page = client.get(url, environ_base=environ_base)
    token = csrf_token_from(page.get_data(as_text=True))
    data = {"username": username, "password": password, "csrf_token": token}
    if next_ is not None:
        data["next"] = next_
    return client.post("/admin/login", data=data, environ_base=environ_base)



def csrf(client, url="/admin/orders"):
    """A valid CSRF token for the client's session."""
    return csrf_token_from(client.get(url).get_data(as_text=True))


def flashes(html: str) -> list[str]:
    """The flash messages on a page."""
    import re

    return re.findall(r'<li class="flash flash-\w+" role="status">(.*?)</li>', html)
