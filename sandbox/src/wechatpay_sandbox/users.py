"""Simulated WeChat users: who is holding the phone, and their openid under each appid.

A browser's user is named by the sandbox cookie `wxsandbox_user` (the phone page can switch it); without
one it is DEFAULT_USER. An openid is stable per (appid, user), 28 characters starting with "o" like real
ones, and counts as issued once OAuth (or the control API) handed it out: JSAPI orders accept only those.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import WeChatUser

DEFAULT_USER = "payer"
COOKIE = "wxsandbox_user"
USER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def valid_name(name) -> bool:
    return isinstance(name, str) and bool(USER_NAME.match(name))


def from_cookie(cookies) -> str:
    name = cookies.get(COOKIE)
    return name if valid_name(name) else DEFAULT_USER


def openid(appid: str, user: str) -> str:
    digest = hashlib.sha256(f"wechat-user:{appid}:{user}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]


def issue(session: Session, appid: str, user: str, now: datetime) -> str:
    """The user's openid under appid, recorded as issued."""
    found = session.scalar(select(WeChatUser.openid).where(WeChatUser.appid == appid, WeChatUser.user == user))
    if found is None:
        found = openid(appid, user)
        session.add(WeChatUser(appid=appid, user=user, openid=found, created_at=now))
        session.flush()
    return found


def issued(session: Session, appid: str, openid_: str) -> bool:
    return session.scalar(select(WeChatUser.id).where(WeChatUser.appid == appid,
                                                      WeChatUser.openid == openid_)) is not None
