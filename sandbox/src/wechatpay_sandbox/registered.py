"""What a merchant registers on WeChat's platforms, and WeChat's rules for matching a URL against it:
网页授权域名 (OAuth redirect domains), 支付授权目录 (JSAPI pay directories), H5 支付域名 (H5 domains).

Entries are `host` or `host:port` for domains and `host[:port]/path/` for directories. WeChat registers
bare domains (its ports are 80/443); an entry without a port matching any port is the sandbox's
concession to tests on random ports. Schemes are not compared (WeChat requires https; development is http).
"""

from __future__ import annotations

from urllib.parse import urlsplit


def _host_port(text: str) -> tuple[str, int | None]:
    """Split `host[:port]` (no scheme, no path); raise ValueError."""
    parts = urlsplit("//" + text)
    port = parts.port  # raises ValueError on a bad port
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"not a host[:port]: {text!r}")
    return parts.hostname, port


def check_domain(entry: str) -> str:
    """A domain entry, normalised (lower case); ValueError if it is not `host[:port]`."""
    _host_port(entry)
    return entry.lower()


def check_directory(entry: str) -> str:
    """A pay-directory entry `host[:port]/path/`, normalised; ValueError otherwise."""
    host, slash, path = entry.partition("/")
    if not slash or not entry.endswith("/"):
        raise ValueError(f"a pay directory is host[:port]/path/ ending with '/': {entry!r}")
    return f"{check_domain(host)}/{path}"


def _url_host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname, port


def _matches(entry: str, host: str, port: int) -> bool:
    entry_host, entry_port = _host_port(entry)
    return entry_host == host and entry_port in (None, port)


def domain_registered(url: str | None, entries) -> bool:
    """True if the URL's host (and port, if the entry names one) is one of the registered domains."""
    where = _url_host_port(url or "")
    return where is not None and any(_matches(entry, *where) for entry in entries)


def page_directory(url: str) -> str:
    """The page URL up to and including the last '/' of its path (query and fragment dropped)."""
    path = urlsplit(url).path or "/"
    return path[: path.rindex("/") + 1]


def pay_directory_registered(page_url: str | None, entries) -> bool:
    """WeChat's rule: the page's directory equals a registered directory exactly (`/a/b/` registered:
    neither `/a/` nor `/a/b/c/` pages may pay), unless the domain root (`host/`) is registered."""
    where = _url_host_port(page_url or "")
    if where is None:
        return False
    directory = page_directory(page_url)
    for entry in entries:
        host, _, path = entry.partition("/")
        if _matches(host, *where) and ("/" + path in (directory, "/")):
            return True
    return False
