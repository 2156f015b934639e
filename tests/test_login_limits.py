"""The account-wide login limit (failures from all addresses together), its notice in the log, and the login
page's focus and text. The per-(user, address) limit is tested in test_admin_auth.py."""
import logging
import re
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from core.clock import utcnow
from extensions import db
from models import LoginFailure
from services.owner_login import Failure, LoginLimits, account_unlock_at
from tests.helpers import OWNER, PASSWORD, login

ACCOUNT_LOCKED = "所有设备都无法登录"
LOCKED_HERE = "该账号在本机已被暂时锁定"


def from_address(app, n: int, username=OWNER, password="wrong password"):
    """One login from its own address (10.0.<n>) in a fresh browser."""
    address = {"REMOTE_ADDR": f"10.0.{n // 250}.{n % 250 + 1}"}
    return login(app.test_client(), username=username, password=password, environ_base=address)


def fail_from_addresses(app, count: int, first=0, username=OWNER):
    """``count`` wrong passwords, each from another address; return the responses."""
    return [from_address(app, n, username=username) for n in range(first, first + count)]


def lock_warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "shop.login" and record.levelno == logging.WARNING]


def autofocused(page: str) -> list[str]:
    """The ids of the inputs that carry autofocus."""
    return [re.search(r'\sid="([^"]+)"', tag).group(1) for tag in re.findall(r"<input[^>]*>", page)
            if re.search(r"\sautofocus[\s>=]", tag)]


def without_csrf_token(page: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", page)


def failure_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginFailure))


def test_twenty_failures_from_any_addresses_lock_the_account_for_everyone(app, owner, caplog):
    with freeze_time(utcnow()):
        responses = fail_from_addresses(app, 20)

        assert [response.status_code for response in responses] == [200] * 19 + [429]
        assert ACCOUNT_LOCKED in responses[-1].get_data(as_text=True)
        assert "15 分钟后再试" in responses[-1].get_data(as_text=True)
        assert responses[-1].headers["Retry-After"] == "900"
        # The right password, from an address that never failed, does not log in and looks like a wrong one.
        browser = app.test_client()
        right = login(browser, environ_base={"REMOTE_ADDR": "10.9.9.1"})
        wrong = from_address(app, 101, password="another guess")
        assert (right.status_code, wrong.status_code) == (429, 429)
        assert right.headers["Retry-After"] == wrong.headers["Retry-After"] == "900"
        assert without_csrf_token(right.get_data(as_text=True)) == without_csrf_token(wrong.get_data(as_text=True))
        assert browser.get("/admin/orders").status_code == 302
        assert failure_rows(app) == 20  # refused attempts left no rows behind

    assert lock_warnings(caplog) == [
        "owner login: user name 'owner' locked for everyone for 15 minutes after 20 failed logins from 20 addresses "
        "within 15 minutes"
    ]
    assert PASSWORD not in caplog.text and "wrong password" not in caplog.text


def test_nineteen_failures_do_not_lock_the_account(app, owner, caplog):
    with freeze_time(utcnow()):
        fail_from_addresses(app, 19)
        assert from_address(app, 100, password=PASSWORD).status_code == 302
    assert lock_warnings(caplog) == []


def test_the_account_lock_lasts_15_minutes_from_the_failure_that_started_it(app, owner):
    start = utcnow()
    with freeze_time(start):
        fail_from_addresses(app, 10)
    with freeze_time(start + timedelta(minutes=10)):
        assert fail_from_addresses(app, 10, first=10)[-1].status_code == 429
    # The first ten failures left the window at start+15, but the lock runs from start+10.
    with freeze_time(start + timedelta(minutes=24)):
        locked = from_address(app, 100, password=PASSWORD)
        assert locked.status_code == 429
        assert locked.headers["Retry-After"] == "60"
        assert "1 分钟后再试" in locked.get_data(as_text=True)
    with freeze_time(start + timedelta(minutes=25, seconds=1)):
        assert from_address(app, 100, password=PASSWORD).status_code == 302


def test_failures_spread_wider_than_the_window_do_not_lock(app, owner):
    start = utcnow()
    with freeze_time(start):
        fail_from_addresses(app, 10)
    with freeze_time(start + timedelta(minutes=15, seconds=1)):
        assert [response.status_code for response in fail_from_addresses(app, 10, first=10)] == [200] * 10
        assert from_address(app, 100, password=PASSWORD).status_code == 302


def test_the_notice_is_logged_once_per_lock(app, owner, caplog):
    start = utcnow()
    with freeze_time(start):
        fail_from_addresses(app, 20)
        fail_from_addresses(app, 5, first=20)  # refused during the lock: no more notices
    assert len(lock_warnings(caplog)) == 1
    with freeze_time(start + timedelta(minutes=16)):
        # The first lock is over and its failures out of the window: a new lock needs twenty new failures.
        assert fail_from_addresses(app, 20, first=40)[-1].status_code == 429
    assert len(lock_warnings(caplog)) == 2


def test_the_notice_counts_addresses_not_attempts(app, owner, caplog):
    with freeze_time(utcnow()):
        for n in range(20):
            from_address(app, n % 4)  # 4 addresses, 5 failures each
    assert lock_warnings(caplog) == [
        "owner login: user name 'owner' locked for everyone for 15 minutes after 20 failed logins from 4 addresses "
        "within 15 minutes"
    ]


def test_an_unknown_user_name_is_locked_the_same_way(app, owner, caplog, monkeypatch):
    # Unknown names are checked against a dummy hash; a cheap one here, like the owner fixture's.
    monkeypatch.setattr("services.owner_login._DUMMY_HASH",
                        generate_password_hash("not-the-password", method="scrypt:1024:8:1"))
    with freeze_time(utcnow()):
        known = fail_from_addresses(app, 20)[-1]
        unknown = fail_from_addresses(app, 20, first=100, username="nobody")[-1]
        assert (known.status_code, unknown.status_code) == (429, 429)
        assert known.headers["Retry-After"] == unknown.headers["Retry-After"]
        assert ACCOUNT_LOCKED in unknown.get_data(as_text=True)
    assert lock_warnings(caplog)[-1].endswith("within 15 minutes (no owner has this user name)")


def test_an_unknown_user_name_never_logs_in_even_with_the_dummy_hashs_password(client, owner):
    # Unknown names are checked against a dummy hash for even timing; matching it must not count.
    response = login(client, username="nobody", password="not-the-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_the_limits_come_from_the_configuration(app, owner, caplog):
    app.config.update(LOGIN_ACCOUNT_MAX_FAILURES=3, LOGIN_ACCOUNT_WINDOW_MINUTES=5, LOGIN_ACCOUNT_LOCK_MINUTES=7,
                      LOGIN_MAX_FAILURES=2, LOGIN_FAILURE_WINDOW_MINUTES=4)
    client = app.test_client()
    with freeze_time(utcnow()):
        first = login(client, password="wrong 1")
        assert "再失败 1 次，将暂时锁定 4 分钟" in first.get_data(as_text=True)
        second = login(client, password="wrong 2")
        assert (second.status_code, second.headers["Retry-After"]) == (429, "240")
        assert LOCKED_HERE in second.get_data(as_text=True)

        third = from_address(app, 1)
        assert (third.status_code, third.headers["Retry-After"]) == (429, "420")
        assert ACCOUNT_LOCKED in third.get_data(as_text=True)
    assert "for 7 minutes after 3 failed logins from 2 addresses within 5 minutes" in lock_warnings(caplog)[0]


def test_when_both_locks_hold_the_later_one_is_told(app, owner):
    app.config.update(LOGIN_ACCOUNT_LOCK_MINUTES=5)
    client = app.test_client()
    start = utcnow()
    with freeze_time(start):
        for attempt in range(5):
            login(client, password=f"wrong {attempt}")  # 127.0.0.1 locked here until start+15
        fail_from_addresses(app, 15)  # the account locked until start+5
        assert from_address(app, 100, password=PASSWORD).headers["Retry-After"] == "300"
        here = login(client)
        assert (here.status_code, here.headers["Retry-After"]) == (429, "900")
        assert LOCKED_HERE in here.get_data(as_text=True)
    app.config.update(LOGIN_ACCOUNT_LOCK_MINUTES=30)
    with freeze_time(start):
        account = login(client)
        assert (account.status_code, account.headers["Retry-After"]) == (429, "1800")
        assert ACCOUNT_LOCKED in account.get_data(as_text=True)


def test_account_unlock_at_starts_the_lock_at_the_failure_that_reached_the_limit():
    limits = LoginLimits(max_failures=5, window=timedelta(minutes=15), account_max_failures=3,
                         account_window=timedelta(minutes=15), account_lock=timedelta(minutes=15))
    start = utcnow()

    def failures(*minutes):
        return [Failure(n, f"10.0.0.{n}", start + timedelta(minutes=m)) for n, m in enumerate(minutes)]

    assert account_unlock_at(failures(0, 1), limits) is None
    assert account_unlock_at(failures(0, 1, 2), limits) == start + timedelta(minutes=17)
    assert account_unlock_at(failures(0, 10, 20), limits) is None  # never three within 15 minutes
    assert account_unlock_at(failures(0, 10, 14, 20), limits) == start + timedelta(minutes=35)
    assert account_unlock_at(failures(5, 0, 1), limits) == start + timedelta(minutes=20)  # any order


# -- the login page ----------------------------------------------------------------------------------

def test_the_login_page_focuses_the_user_name(client):
    assert autofocused(client.get("/admin/login").get_data(as_text=True)) == ["username"]


def test_after_wrong_credentials_the_focus_is_on_the_password(client, owner):
    page = login(client, password="wrong password").get_data(as_text=True)

    assert "用户名或密码错误" in page
    assert autofocused(page) == ["password"]
    assert f'value="{OWNER}"' in page  # the user name stays filled in
    assert 'value="wrong password"' not in page


@pytest.mark.parametrize(("username", "password", "focus"), [
    (OWNER, "", "password"),
    ("", "anything", "username"),
    ("", "", "username"),
])
def test_a_missing_field_gets_the_focus(client, owner, username, password, focus):
    response = login(client, username=username, password=password)
    assert response.status_code == 400
    assert autofocused(response.get_data(as_text=True)) == [focus]


def test_a_locked_page_focuses_the_user_name(client, owner):
    with freeze_time(utcnow()):
        for attempt in range(5):
            response = login(client, password=f"wrong {attempt}")
    assert response.status_code == 429
    assert autofocused(response.get_data(as_text=True)) == ["username"]


def test_the_login_page_shows_no_developer_command(client, owner):
    for response in (client.get("/admin/login"), login(client, password="wrong password")):
        page = response.get_data(as_text=True)
        assert "create-owner" not in page and "flask" not in page.lower()
