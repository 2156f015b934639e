"""The Host allow-list, so that a web page in a developer's browser cannot reach the sandbox by DNS rebinding.

A rebinding page points its own name at 127.0.0.1: the browser then sends that name in `Host`, which is
how we tell it from a real local client. Allowed are the loopback names, SANDBOX_PUBLIC_URL's host and
SANDBOX_ALLOWED_HOSTS; the port is not compared.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def hostname(host_header: str | None) -> str | None:
    """The lower-case host name of a Host header ("[::1]:5001" -> "::1"), or None if malformed."""
    if not host_header:
        return None
    try:
        parts = urlsplit("//" + host_header.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return parts.hostname or None


def allowed_names(settings: dict) -> set[str]:
    names = set(LOOPBACK_NAMES) | set(settings["SANDBOX_ALLOWED_HOSTS"])
    public = urlsplit(settings["SANDBOX_PUBLIC_URL"]).hostname
    if public:
        names.add(public.lower())
    return names


class HostGuard:
    """WSGI middleware answering 400 to a request whose Host is not allowed, before the app sees it."""

    def __init__(self, app, runtime):
        self.app = app
        self.runtime = runtime

    def __call__(self, environ, start_response):
        name = hostname(environ.get("HTTP_HOST"))
        if name is not None and name in allowed_names(self.runtime.settings):
            return self.app(environ, start_response)
        body = ("Host not allowed: the sandbox answers 127.0.0.1, localhost and the names in "
                "SANDBOX_ALLOWED_HOSTS.\n").encode("utf-8")
        start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"),
                                           ("Content-Length", str(len(body)))])
        return [body]
