"""Web OAuth of a WeChat official account (网页授权), as WeChat serves it, for JSAPI's payer openid.

`GET /connect/oauth2/authorize` (open.weixin.qq.com) redirects back with a code; `GET
/sns/oauth2/access_token` (api.weixin.qq.com) exchanges it for the user's openid. Point a client's
OAuth base at `{sandbox}/connect/` and its API base at `{sandbox}/`.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request
from sqlalchemy import update

from . import clock, faults, registered, users
from .models import OAuthCode

bp = Blueprint("oauth", __name__)

SNSAPI_BASE, SNSAPI_USERINFO = "snsapi_base", "snsapi_userinfo"
SCOPES = (SNSAPI_BASE, SNSAPI_USERINFO)
CODE_TTL = timedelta(minutes=5)
TOKEN_TTL = 7200
# The access_token endpoint's errors: HTTP 200 with {errcode, errmsg}, as WeChat answers.
INVALID_APPID = (40013, "invalid appid")
INVALID_SECRET = (40125, "invalid appsecret")
INVALID_GRANT_TYPE = (40002, "invalid grant_type")
INVALID_CODE = (40029, "invalid code")
CODE_USED = (40163, "code been used")
SYSTEM_BUSY = (-1, "system error")


def _rt():
    return current_app.extensions["sandbox"]


def issue_code(session, appid: str, user: str, scope: str, now: datetime) -> tuple[str, str]:
    """A new single-use code for the user (whose openid is issued now); return (code, openid)."""
    openid = users.issue(session, appid, user, now)
    code = secrets.token_hex(16)  # 32 characters, like WeChat's codes
    session.add(OAuthCode(code=code, appid=appid, openid=openid, scope=scope, created_at=now))
    return code, openid


def _error_page(message: str, errcode: int | None = None):
    """WeChat answers a bad authorize request with a page inside its browser, not a redirect."""
    return render_template("oauth_error.html", message=message, errcode=errcode)


def _with_query(url: str, params: dict) -> str:
    """Append params to the query of url (before any fragment), as WeChat appends code and state."""
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@bp.get("/connect/oauth2/authorize")
def authorize():
    """snsapi_base (and, in the sandbox, snsapi_userinfo without its consent page): a silent 302 back."""
    rt = _rt()
    args = request.args
    if "MicroMessenger" not in request.headers.get("User-Agent", ""):
        return _error_page("请在微信客户端打开链接")
    if not args.get("appid"):
        return _error_page("appid不能为空", 10012)
    if args["appid"] != rt.keys.appid:
        return _error_page("appid无效", INVALID_APPID[0])
    redirect_uri = args.get("redirect_uri", "")
    if not redirect_uri:
        return _error_page("redirect_uri不能为空", 10011)
    if not registered.domain_registered(redirect_uri, rt.oauth_domains):
        return _error_page("redirect_uri域名与后台配置不一致", 10003)
    scope = args.get("scope", "")
    if not scope:
        return _error_page("scope不能为空", 10010)
    if scope not in SCOPES:
        return _error_page("此公众号并没有这些scope的权限", 10005)
    if args.get("response_type") != "code":
        return _error_page("response_type参数错误")
    with rt.db.write() as session:
        code, _ = issue_code(session, rt.keys.appid, users.from_cookie(request.cookies), scope, clock.now())
    back = {"code": code}
    if "state" in args:
        back["state"] = args["state"]
    return redirect(_with_query(redirect_uri, back), 302)


def _json(body: dict) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode("utf-8"), 200, content_type="application/json; encoding=utf-8")


def _errcode(error: tuple[int, str]) -> Response:
    return _json({"errcode": error[0], "errmsg": error[1]})


@bp.get("/sns/oauth2/access_token")
def access_token():
    rt = _rt()
    args = request.args
    with rt.db.write() as session:
        fault = faults.take_fault(session, "oauth")
    if fault is not None and fault.mode == "system_error":
        return _errcode(SYSTEM_BUSY)
    if fault is not None and fault.mode == "hang":
        rt.stopping.wait(fault.seconds)  # a client timeout; nothing else happens
    if args.get("appid") != rt.keys.appid:
        return _errcode(INVALID_APPID)
    if args.get("secret") != rt.keys.app_secret:
        return _errcode(INVALID_SECRET)
    if args.get("grant_type") != "authorization_code":
        return _errcode(INVALID_GRANT_TYPE)
    now = clock.now()
    with rt.db.write() as session:
        row = session.get(OAuthCode, args.get("code", ""))
        if row is None or row.appid != args["appid"] or now >= row.created_at + CODE_TTL:
            return _errcode(INVALID_CODE)
        used = session.execute(update(OAuthCode).where(OAuthCode.code == row.code, OAuthCode.used_at.is_(None))
                               .values(used_at=now)).rowcount
        if not used:
            return _errcode(CODE_USED)
        openid, scope = row.openid, row.scope
    return _json({"access_token": secrets.token_urlsafe(64), "expires_in": TOKEN_TTL,
                  "refresh_token": secrets.token_urlsafe(64), "openid": openid, "scope": scope,
                  "is_snapshotuser": 0})
