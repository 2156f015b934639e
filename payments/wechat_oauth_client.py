"""wechatpy's OAuth client with a timeout on every request (it sends none by default).

Its own module so that wechatpy is imported by the first WeChat login, not by every web worker at start.
"""
from wechatpy.oauth import WeChatOAuth


class BoundedOAuth(WeChatOAuth):
    def __init__(self, *args, timeout, **kwargs):
        super().__init__(*args, **kwargs)
        self.timeout = timeout

    def _request(self, method, url_or_endpoint, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super()._request(method, url_or_endpoint, **kwargs)
