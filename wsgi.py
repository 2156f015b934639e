"""WSGI entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""
import gc
import os

from app import create_app
from http_policy import configure_logging

# Without SHOP_ENV the shop would serve development settings, signed with the public development key.
if not os.environ.get("SHOP_ENV"):
    raise RuntimeError(
        "SHOP_ENV is not set. The WSGI entry point serves real traffic and will not guess: set SHOP_ENV=production "
        "(or staging) and its settings; see README \"Production\"."
    )

configure_logging()
app = create_app(migrations=False)
# What the worker has loaded (modules, templates, mappers: about 125,000 objects) lives as long as the worker.
# Out of the collector's sight, a full collection takes well under a millisecond instead of about 35 ms, during
# which every thread of the worker stands still.
gc.freeze()
