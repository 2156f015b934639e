"""The ?page= argument every list reads (a page number within reason, or the 404 of a page that isn't), and a
page of items read by the caller."""
from flask import abort, request
from flask_sqlalchemy.pagination import Pagination

# More pages than any list here has; a bigger number is a typo or a probe, not a page.
MAX_PAGE = 10_000


def page_number() -> int:
    """The requested page (1 when absent); 404 for anything but a whole number from 1 to MAX_PAGE."""
    raw = request.args.get("page", "1")
    if not raw.isdecimal() or not 1 <= int(raw) <= MAX_PAGE:
        abort(404)
    return int(raw)


class KnownPage(Pagination):
    """A page whose items and total the caller has read already (the templates' paging links from them)."""

    def _query_items(self) -> list:
        return self._query_args["items"]

    def _query_count(self) -> int:
        return self._query_args["total"]
