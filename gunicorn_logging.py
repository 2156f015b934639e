"""gunicorn's logger with order tokens masked (`logger_class` in gunicorn.conf.py).

The access log's request line, path, query, referer and Location header can all carry a customer's
order token, and so can the error log's "Error handling request /pay/..." lines.
"""
from gunicorn import glogging

from http_policy import MASK_ORDER_TOKENS, mask_order_tokens


class MaskingLogger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)
        self.error_log.addFilter(MASK_ORDER_TOKENS)

    def atoms(self, resp, req, environ, request_time):
        # Every text atom, not only %(r)s: a changed access_log_format must not bring the tokens back.
        return {name: mask_order_tokens(value) if isinstance(value, str) else value
                for name, value in super().atoms(resp, req, environ, request_time).items()}
