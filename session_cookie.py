"""Flask's signed-cookie session, with each cookie's verification remembered per process.

A returning visitor sends the same session cookie on every request until the session changes. Opening it
(a new serializer, base64, two HMACs, JSON) was a tenth of a cached page's CPU. A cookie that verified once is
kept with its JSON text and signing time, so the next request with the very same cookie only checks its age
(PERMANENT_SESSION_LIFETIME, as itsdangerous would) and parses the JSON into fresh objects the request may
change. Only a cookie this process verified is ever taken from memory, so what a session holds and when it
expires are exactly as with Flask's own interface.
"""
import threading
import time

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature


class RememberingSessionInterface(SecureCookieSessionInterface):
    def __init__(self, capacity: int = 4096):
        self.capacity = capacity
        self.verified: dict[str, tuple[str, int]] = {}  # cookie -> (JSON text, signed at), oldest first
        self.lock = threading.Lock()

    def open_session(self, app, request):
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie or not app.secret_key:
            return super().open_session(app, request)
        remembered = self.verified.get(cookie)
        if remembered is not None:  # an expired one opens empty, as Flask's own check would refuse it
            return self.session_class(self.unexpired(remembered, app.permanent_session_lifetime) or {})
        try:
            max_age = int(app.permanent_session_lifetime.total_seconds())
            data, signed_at = self.get_signing_serializer(app).loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        self.remember(cookie, self.serializer.dumps(data), int(signed_at.timestamp()))
        return self.session_class(data)

    def remembered(self, app, cookie: str) -> dict | None:
        """The data of a cookie this process verified and that has not expired, as fresh objects; else None
        (the lean paths then leave the request to Flask)."""
        remembered = self.verified.get(cookie)
        return None if remembered is None else self.unexpired(remembered, app.permanent_session_lifetime)

    def unexpired(self, remembered: tuple[str, int], lifetime) -> dict | None:
        text, signed_at = remembered
        if not 0 <= int(time.time()) - signed_at <= int(lifetime.total_seconds()):
            return None
        return self.serializer.loads(text)

    def remember(self, cookie: str, text: str, signed_at: int) -> None:
        with self.lock:
            while len(self.verified) >= self.capacity:
                del self.verified[next(iter(self.verified))]
            self.verified[cookie] = (text, signed_at)
