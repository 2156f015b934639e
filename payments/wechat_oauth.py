"""WeChat's web OAuth (网页授权, the silent ``snsapi_base`` scope): the payer's openid for JSAPI payments.

wechatpy's WeChatOAuth does the protocol; this module only points it at the configured hosts (the
sandbox in development), bounds its requests with a timeout, and turns its errors into OAuthFailed.
"""
from dataclasses import dataclass
from pathlib import Path

import requests

# WeChat's errcodes a customer can meet, in words for the page that says so.
ERRORS = {
    40029: "授权码无效或已过期",
    40163: "授权码已被使用",
    40125: "公众号密钥不正确",
    40013: "公众号 AppID 不正确",
}


class OAuthFailed(Exception):
    """WeChat did not give the openid: a bad, expired or reused code, or WeChat could not be reached."""

    def __init__(self, errcode, message: str):
        super().__init__(f"{errcode}: {message}")
        self.errcode = errcode
        self.message = message


@dataclass(frozen=True)
class WeChatLogin:
    appid: str
    secret: str
    oauth_url: str  # https://open.weixin.qq.com/connect/
    api_url: str  # https://api.weixin.qq.com/
    timeout: tuple

    @classmethod
    def from_config(cls, config) -> "WeChatLogin | None":
        """The official account's OAuth, or None when no AppSecret is configured (no JSAPI then)."""
        path = config.get("WECHAT_APPSECRET_FILE")
        if not path or not Path(path).is_file():
            return None
        return cls(appid=config["WECHATPAY_APPID"], secret=Path(path).read_text(encoding="utf-8").strip(),
                   oauth_url=config["WECHAT_OAUTH_URL"], api_url=config["WECHAT_API_URL"],
                   timeout=config["WECHATPAY_TIMEOUT"])

    def client(self, redirect_uri: str, state: str = ""):
        """wechatpy's WeChatOAuth for these hosts, its requests bounded by ``timeout``."""
        from payments.wechat_oauth_client import BoundedOAuth  # wechatpy: 9 MiB, loaded by the first login

        oauth = BoundedOAuth(self.appid, self.secret, redirect_uri, scope="snsapi_base", state=state,
                             timeout=self.timeout)
        oauth.OAUTH_BASE_URL, oauth.API_BASE_URL = self.oauth_url, self.api_url
        return oauth

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send WeChat's browser; it comes back to ``redirect_uri?code=..&state=..``."""
        return self.client(redirect_uri, state).authorize_url

    def openid(self, code: str) -> str:
        """Exchange the single-use code for the payer's openid under this AppID."""
        from wechatpy.exceptions import WeChatOAuthException

        try:
            return self.client("").fetch_access_token(code)["openid"]
        except WeChatOAuthException as error:
            raise OAuthFailed(error.errcode, ERRORS.get(error.errcode, "微信授权失败")) from None
        except (requests.RequestException, KeyError, ValueError) as error:
            raise OAuthFailed(None, f"暂时无法连接微信（{type(error).__name__}）") from None
