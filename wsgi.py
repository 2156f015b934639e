"""WSGI entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""
from app import create_app
from http_policy import configure_logging

configure_logging()
app = create_app()
