"""Time helpers. Everything reads the clock here (via datetime.now / time.time) so freezegun can move it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8))  # WeChat Pay writes times in +08:00

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def rfc3339(moment: datetime | None) -> str | None:
    """Format an aware datetime as WeChat Pay does, e.g. 2018-06-08T10:34:56+08:00."""
    if moment is None:
        return None
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat()


def beijing_text(moment: datetime | None) -> str:
    """An aware datetime as Beijing wall time, 2026-11-27 10:00:00 (pages and bills)."""
    if moment is None:
        return ""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 date-time that carries an offset; raise ValueError otherwise."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise ValueError("not an RFC 3339 date-time with offset")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds only
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+08:00 falls before year 1 in UTC
        raise ValueError("date-time out of range") from None
