"""`make loadtest`, short: about 15 s of traffic against the production topology with the sandbox's faults, and
every check of the long run must hold (tests/bench/loadtest.py)."""
import os

import pytest

from tests.bench import loadtest

pytestmark = pytest.mark.slow


def test_the_short_load_test_holds_every_check(tmp_path):
    server = os.environ.get("DATABASE_URL", "")
    postgres = server if server.startswith(("postgres://", "postgresql")) else None
    result = loadtest.run(15, tmp_path, postgres=postgres)
    loadtest.print_result(result)  # shown by pytest when the test fails
    failed = {check.name: check.problems[:10] for check in result.checks if not check.ok}
    assert not failed
    assert result.traffic.kill, "a web worker was killed mid-run"
