"""Certificates: keep WeChat Pay's platform certificates fresh (certificate mode only).

Web workers never download certificates (a notification must not make the shop call out); this job
downloads them on a schedule into WECHATPAY_CERT_DIR, where the workers find them.
"""
from datetime import datetime

from jobs.common import JobSummary, log
from payments import get_gateway


def refresh_certificates(now: datetime) -> JobSummary:
    """Download the platform certificates now; ``checked`` is how many are held. Needs an app context."""
    summary = JobSummary("certificates")
    try:
        summary.checked = get_gateway().refresh_certificates()
    except Exception:
        summary.add("errors")
        log.exception("job=certificates failed; the certificates held stay in use")
    return summary.log()
