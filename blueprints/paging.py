"""The ?page= argument every list reads: a page number within reason, or the 404 of a page that isn't."""
from flask import abort, request

# More pages than any list here has; a bigger number is a typo or a probe, not a page.
MAX_PAGE = 10_000


def page_number() -> int:
    """The requested page (1 when absent); 404 for anything but a whole number from 1 to MAX_PAGE."""
    raw = request.args.get("page", "1")
    if not raw.isdecimal() or not 1 <= int(raw) <= MAX_PAGE:
        abort(404)
    return int(raw)
