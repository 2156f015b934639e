"""Inside WeChat: the payer's openid, through WeChat's silent web OAuth, kept in the session.

A JSAPI payment needs the payer's openid under the merchant's AppID. The pay page sends WeChat's browser
to WeChat's authorize URL with a random ``state`` kept in the session; WeChat comes back with a code and
that state, and the code is exchanged for the openid (wechatpy, payments/wechat_oauth.py).
"""
import secrets

from flask import abort, current_app, redirect, render_template, request, session, url_for

from blueprints.pay import bp
from payments.wechat_oauth import OAuthFailed, WeChatLogin

OPENID_KEY = "wechat_openid"
STATE_KEY = "wechat_oauth"


def wechat_login_client() -> WeChatLogin | None:
    """The official account's OAuth, built once from the config; None without an AppSecret."""
    extensions = current_app.extensions
    if "wechat_login" not in extensions:
        extensions["wechat_login"] = WeChatLogin.from_config(current_app.config)
    return extensions["wechat_login"]


def jsapi_available() -> bool:
    return wechat_login_client() is not None


@bp.get("/pay/<token>/wechat-login")
def wechat_login(token):
    """Send WeChat's browser to WeChat's (silent) authorization; it comes back to wechat_oauth_return."""
    client = wechat_login_client()
    if client is None:
        return redirect(url_for("pay.show", token=token, via="native"))
    state = secrets.token_urlsafe(16)
    session[STATE_KEY] = {"state": state, "token": token}
    return redirect(client.authorize_url(url_for("pay.wechat_oauth_return", _external=True), state))


@bp.get("/wechat/oauth-return")
def wechat_oauth_return():
    """Take the openid for the code WeChat sent back, if the state is the one this browser was given."""
    expected = session.pop(STATE_KEY, None)
    if not expected or not secrets.compare_digest(request.args.get("state", ""), expected["state"]):
        abort(400, description="微信授权已失效或来源不明，请回到订单页面重新支付。")
    client = wechat_login_client()
    code = request.args.get("code", "")
    if client is None or not code:
        abort(400, description="没有收到微信的授权，请回到订单页面重新支付。")
    try:
        session[OPENID_KEY] = client.openid(code)
    except OAuthFailed as failed:
        return render_template("pay/wechat_login_failed.html", message=failed.message,
                               token=expected["token"]), 400
    return redirect(url_for("pay.show", token=expected["token"]))
