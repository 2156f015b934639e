"""WeChat's rules for registered domains and pay directories, and the settings that hold them."""

import pytest

from wechatpay_sandbox import settings
from wechatpay_sandbox.registered import domain_registered, page_directory, pay_directory_registered


@pytest.mark.parametrize("url, entries, expected", [
    ("http://127.0.0.1:5000/pay/back", ["127.0.0.1"], True),  # no port in the entry: any port
    ("https://shop.example.cn/x", ["shop.example.cn"], True),
    ("https://SHOP.example.cn/x", ["shop.example.cn"], True),
    ("https://m.shop.example.cn/x", ["shop.example.cn"], False),  # exactly the domain, no subdomains
    ("https://shop.example.cn.evil.test/x", ["shop.example.cn"], False),
    ("http://127.0.0.1:5000/", ["127.0.0.1:5000"], True),
    ("http://127.0.0.1:5001/", ["127.0.0.1:5000"], False),
    ("http://localhost/", ["localhost:80"], True),  # the scheme's default port
    ("ftp://127.0.0.1/", ["127.0.0.1"], False), ("127.0.0.1/pay", ["127.0.0.1"], False), ("", ["127.0.0.1"], False),
    ("http://127.0.0.1:99999/", ["127.0.0.1"], False),
])
def test_domain_registered(url, entries, expected):
    assert domain_registered(url, entries) is expected


@pytest.mark.parametrize("url, directory", [
    ("http://h/pay/abc?x=1#y", "/pay/"), ("http://h/pay/", "/pay/"), ("http://h", "/"),
    ("http://h/a/b/c.html", "/a/b/"),
])
def test_page_directory(url, directory):
    assert page_directory(url) == directory


@pytest.mark.parametrize("page, entries, expected", [
    ("http://127.0.0.1:5000/pay/TOKEN", ["127.0.0.1/pay/"], True),
    ("http://127.0.0.1:5000/pay/TOKEN?openid=1", ["127.0.0.1/pay/"], True),
    ("http://127.0.0.1:5000/pay/TOKEN/jsapi", ["127.0.0.1/pay/"], False),  # /pay/TOKEN/ is another directory
    ("http://127.0.0.1:5000/abc", ["127.0.0.1/pay/"], False),  # /abc/123/ registered: not /abc/ ...
    ("http://h.test/abc/x", ["h.test/abc/123/"], False),
    ("http://h.test/abc/123/pay/x", ["h.test/abc/123/"], False),  # ... nor /abc/123/pay/
    ("http://h.test/abc/123/x", ["h.test/abc/123/"], True),
    ("http://h.test/any/where/x", ["h.test/"], True),  # the domain root registered: every page
    ("http://127.0.0.1:5001/pay/x", ["127.0.0.1:5000/pay/"], False),
    ("http://other.test/pay/x", ["127.0.0.1/pay/"], False),
])
def test_pay_directory_registered(page, entries, expected):
    assert pay_directory_registered(page, entries) is expected


def test_defaults_allow_loopback_with_the_pay_directory():
    loaded = settings.load()
    assert loaded["SANDBOX_OAUTH_DOMAINS"] == loaded["SANDBOX_H5_DOMAINS"] == ("127.0.0.1", "localhost")
    assert loaded["SANDBOX_JSAPI_PAY_DIRS"] == ("127.0.0.1/pay/", "localhost/pay/")


@pytest.mark.parametrize("bad", [
    {"SANDBOX_OAUTH_DOMAINS": "http://127.0.0.1"}, {"SANDBOX_H5_DOMAINS": "127.0.0.1/pay"},
    {"SANDBOX_JSAPI_PAY_DIRS": "127.0.0.1/pay"}, {"SANDBOX_JSAPI_PAY_DIRS": "/pay/"},
    {"SANDBOX_H5_DOMAINS": "127.0.0.1:port"},
])
def test_bad_entries_are_refused(bad):
    with pytest.raises(ValueError):
        settings.load(bad)


def test_entries_are_normalised():
    loaded = settings.load({"SANDBOX_OAUTH_DOMAINS": "Shop.Example.CN, localhost:5000",
                            "SANDBOX_JSAPI_PAY_DIRS": "Shop.Example.CN/Pay/"})
    assert loaded["SANDBOX_OAUTH_DOMAINS"] == ("shop.example.cn", "localhost:5000")
    assert loaded["SANDBOX_JSAPI_PAY_DIRS"] == ("shop.example.cn/Pay/",)  # paths keep their case
