"""Shared by the sandbox's tests: phone User-Agents, and a small merchant website on 127.0.0.1."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# WeChat's in-app browser (its User-Agent names MicroMessenger) and a phone browser outside WeChat.
WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN")
PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.0 Mobile/15E148 Safari/604.1")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@dataclass
class Site:
    """A merchant's website: path -> (body, content type, extra headers); every request is recorded."""

    url: str = ""
    pages: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)

    def page(self, path: str, body: str, content_type: str = "text/html; charset=utf-8", **headers) -> str:
        self.pages[path] = (body, content_type, headers)
        return self.url + path

    def wsgi(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.path, request.full_path, dict(request.headers)))
        if request.path not in self.pages:
            return Response("not found", 404)(environ, start_response)
        body, content_type, headers = self.pages[request.path]
        return Response(body, 200, content_type=content_type, headers=headers)(environ, start_response)


def serve_site():
    """Start a Site on a free 127.0.0.1 port; return (site, stop)."""
    site = Site()
    server = make_server("127.0.0.1", 0, site.wsgi, threaded=True, request_handler=_Quiet)
    site.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)

    return site, stop
