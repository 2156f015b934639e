"""Web OAuth as WeChat serves it, driven by wechatpy 1.8.18's WeChatOAuth (what merchant code uses)."""

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from freezegun import freeze_time
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from helpers import PHONE_UA, WECHAT_UA
from wechatpay_sandbox.testing import USER_COOKIE

BACK = "http://127.0.0.1:5000/pay/openid"


def oauth_client(sb, redirect_uri=BACK, state="", secret=None):
    client = WeChatOAuth(sb.keys.appid, secret or sb.keys.app_secret, redirect_uri, scope="snsapi_base", state=state)
    client.OAUTH_BASE_URL = sb.url + "/connect/"
    client.API_BASE_URL = sb.url + "/"
    client._http.trust_env = False
    return client


def open_in_wechat(url, user=None, user_agent=WECHAT_UA):
    """Open the authorize URL as WeChat's browser does (the #wechat_redirect fragment stays in it)."""
    headers = {"User-Agent": user_agent}
    if user:
        headers["Cookie"] = f"{USER_COOKIE}={user}"
    with requests.Session() as http:
        http.trust_env = False
        return http.get(url.split("#", 1)[0], headers=headers, allow_redirects=False, timeout=5)


def code_from(response) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def error_page(response) -> tuple[str, str]:
    """(message, errcode) of WeChat's error page; no redirect happened."""
    assert response.status_code == 200 and "Location" not in response.headers
    match = re.search(r'id="wx-oauth-error" data-errcode="(\d*)">([^<]*)<', response.text)
    assert match, response.text
    return match.group(2), match.group(1)


def test_authorize_then_fetch_access_token(sb):
    client = oauth_client(sb, state="st-1")
    assert client.authorize_url == (f"{sb.url}/connect/oauth2/authorize?appid={sb.keys.appid}&redirect_uri="
                                    f"{quote(BACK, safe='')}&response_type=code&scope=snsapi_base&state=st-1"
                                    "#wechat_redirect")
    response = open_in_wechat(client.authorize_url)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == BACK
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"] and re.fullmatch(r"[0-9a-f]{32}", query["code"][0])

    token = client.fetch_access_token(query["code"][0])
    assert set(token) == {"access_token", "expires_in", "refresh_token", "openid", "scope", "is_snapshotuser"}
    assert (token["expires_in"], token["scope"], token["is_snapshotuser"]) == (7200, "snsapi_base", 0)
    assert re.fullmatch(r"o[A-Za-z0-9_-]{27}", token["openid"]) and client.open_id == token["openid"]
    assert token["openid"] == sb.openid()  # the default user holds the phone


def test_a_code_is_single_use_and_lives_five_minutes(sb):
    client = oauth_client(sb)
    code = code_from(open_in_wechat(client.authorize_url))
    client.fetch_access_token(code)
    with pytest.raises(WeChatOAuthException) as reused:
        client.fetch_access_token(code)
    assert (reused.value.errcode, reused.value.errmsg) == (40163, "code been used")
    for bogus in ("0" * 32, ""):
        with pytest.raises(WeChatOAuthException) as invalid:
            client.fetch_access_token(bogus)
        assert (invalid.value.errcode, invalid.value.errmsg) == (40029, "invalid code")

    start = datetime.now(timezone.utc)
    with freeze_time(start) as frozen:
        late, in_time = sb.oauth_code()["code"], sb.oauth_code()["code"]
        frozen.tick(timedelta(minutes=4, seconds=59))
        assert client.fetch_access_token(in_time)["openid"]
        frozen.tick(timedelta(seconds=1))
        with pytest.raises(WeChatOAuthException) as expired:
            client.fetch_access_token(late)
        assert expired.value.errcode == 40029


def test_wrong_secret_appid_or_grant_type(sb):
    code = sb.oauth_code()["code"]
    with pytest.raises(WeChatOAuthException) as secret:
        oauth_client(sb, secret="0" * 32).fetch_access_token(code)
    assert (secret.value.errcode, secret.value.errmsg) == (40125, "invalid appsecret")
    with requests.Session() as http:
        http.trust_env = False
        ask = lambda **params: http.get(sb.url + "/sns/oauth2/access_token", timeout=5, params={  # noqa: E731
            "appid": sb.keys.appid, "secret": sb.keys.app_secret, "code": code, "grant_type": "authorization_code",
            **params}).json()
        assert ask(appid="wx0000000000000000") == {"errcode": 40013, "errmsg": "invalid appid"}
        assert ask(grant_type="client_credential") == {"errcode": 40002, "errmsg": "invalid grant_type"}
        assert ask()["openid"]  # the refused calls did not use the code up


def test_state_is_returned_only_when_given_and_the_redirect_keeps_its_query(sb):
    no_state = open_in_wechat(oauth_client(sb).authorize_url)
    assert "state" not in parse_qs(urlsplit(no_state.headers["Location"]).query)
    back = "http://localhost:5000/pay/openid?token=a%20b#top"
    url = (f"{sb.url}/connect/oauth2/authorize?appid={sb.keys.appid}&redirect_uri={quote(back, safe='')}"
           "&response_type=code&scope=snsapi_base&state=")
    location = open_in_wechat(url).headers["Location"]
    assert re.fullmatch(r"http://localhost:5000/pay/openid\?token=a%20b&code=[0-9a-f]{32}&state=#top", location)


def test_each_user_has_a_stable_openid(sb):
    client = oauth_client(sb)
    alice = client.fetch_access_token(code_from(open_in_wechat(client.authorize_url, user="alice")))["openid"]
    again = client.fetch_access_token(code_from(open_in_wechat(client.authorize_url, user="alice")))["openid"]
    bob = client.fetch_access_token(code_from(open_in_wechat(client.authorize_url, user="bob")))["openid"]
    default = client.fetch_access_token(code_from(open_in_wechat(client.authorize_url)))["openid"]
    assert alice == again == sb.openid("alice") and len({alice, bob, default}) == 3


def test_authorize_refusals_show_wechats_page(sb):
    client = oauth_client(sb)
    assert error_page(open_in_wechat(client.authorize_url, user_agent=PHONE_UA)) == ("请在微信客户端打开链接", "")
    foreign = oauth_client(sb, redirect_uri="https://shop.example.cn/pay/openid")
    assert error_page(open_in_wechat(foreign.authorize_url)) == ("redirect_uri域名与后台配置不一致", "10003")
    base = f"{sb.url}/connect/oauth2/authorize?redirect_uri={quote(BACK, safe='')}&response_type=code"
    appid = f"&appid={sb.keys.appid}"
    assert error_page(open_in_wechat(base + "&scope=snsapi_base")) == ("appid不能为空", "10012")
    assert error_page(open_in_wechat(base + "&scope=snsapi_base&appid=wx0000000000000000"))[1] == "40013"
    assert error_page(open_in_wechat(base + appid)) == ("scope不能为空", "10010")
    no_scope_right = error_page(open_in_wechat(base + appid + "&scope=snsapi_login"))
    assert no_scope_right == ("此公众号并没有这些scope的权限", "10005")
    no_uri = f"{sb.url}/connect/oauth2/authorize?appid={sb.keys.appid}&response_type=code&scope=snsapi_base"
    assert error_page(open_in_wechat(no_uri)) == ("redirect_uri不能为空", "10011")


def test_the_registered_domains_can_change_while_running(sb):
    sb.configure(SANDBOX_OAUTH_DOMAINS="shop.example.cn")
    assert error_page(open_in_wechat(oauth_client(sb).authorize_url))[1] == "10003"
    assert code_from(open_in_wechat(oauth_client(sb, "https://shop.example.cn/pay/openid").authorize_url))
    sb.configure(SANDBOX_OAUTH_DOMAINS="127.0.0.1:5000")
    assert code_from(open_in_wechat(oauth_client(sb).authorize_url))
    assert error_page(open_in_wechat(oauth_client(sb, "http://127.0.0.1:5002/x").authorize_url))[1] == "10003"


def test_oauth_faults(sb):
    client = oauth_client(sb)
    code = sb.oauth_code()["code"]
    sb.fault(target="oauth", mode="system_error")
    with pytest.raises(WeChatOAuthException) as busy:
        client.fetch_access_token(code)
    assert busy.value.errcode == -1
    sb.fault(target="oauth", mode="hang", seconds=1)
    with pytest.raises(requests.Timeout):
        client._http.get(f"{sb.url}/sns/oauth2/access_token", timeout=0.3, params={"appid": sb.keys.appid})
    assert client.fetch_access_token(code)["openid"]  # faults did not use the code up
