"""gunicorn settings for the web workers (the jobs run in their own process: `flask jobs run`)."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")  # nginx in front terminates TLS
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# WeChat Pay calls time out after 5 s + 10 s (WECHATPAY_*_TIMEOUT); a request never needs longer.
timeout = 30
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
# Order tokens in URLs are masked in the access and error logs (/pay/Ab3d…).
logger_class = "gunicorn_logging.MaskingLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """A line per worker once it has loaded the shop and can serve (the benchmarks wait for every one)."""
    worker.log.info("Worker ready (pid: %s)", worker.pid)
