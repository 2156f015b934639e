"""Logins racing each other: every answer is 200 or 429 (never 500), and the limits still hold.

Twenty requests start at once: threads against the shop served over real HTTP (`live_shop`), or many test
clients on the same file database. On PostgreSQL too when DATABASE_URL says so.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from extensions import db
from models import LoginFailure
from tests.helpers import OWNER, PASSWORD, csrf_token_from, login

PARALLEL = 20


def failure_rows(app, username=OWNER) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginFailure).filter_by(username=username))


def race_over_http(url: str, passwords: list[str]) -> list[requests.Response]:
    """POST one login per password from its own browser session, all released at the same moment."""
    barrier = threading.Barrier(len(passwords))

    def attempt(password):
        with requests.Session() as http:
            http.trust_env = False
            token = csrf_token_from(http.get(f"{url}/admin/login", timeout=10).text)
            barrier.wait(timeout=30)
            return http.post(f"{url}/admin/login", data={"username": OWNER, "password": password, "csrf_token": token},
                             allow_redirects=False, timeout=60)

    with ThreadPoolExecutor(len(passwords)) as pool:
        return list(pool.map(attempt, passwords))


def race_from_addresses(app, passwords: list[str]) -> list:
    """One test client per password, each from its own address (10.0.0.x), all released together."""
    barrier = threading.Barrier(len(passwords))

    def attempt(numbered):
        n, password = numbered
        client = app.test_client()
        address = {"REMOTE_ADDR": f"10.0.0.{n + 1}"}
        token = csrf_token_from(client.get("/admin/login", environ_base=address).get_data(as_text=True))
        barrier.wait(timeout=30)
        return client.post("/admin/login", data={"username": OWNER, "password": password, "csrf_token": token},
                           environ_base=address)

    with ThreadPoolExecutor(len(passwords)) as pool:
        return list(pool.map(attempt, enumerate(passwords)))


def test_parallel_logins_against_a_user_locked_here_all_answer_429(app, live_shop, client, owner):
    for attempt in range(5):
        login(client, password=f"wrong {attempt}")  # from 127.0.0.1, like the HTTP requests below
    assert failure_rows(app) == 5

    responses = race_over_http(live_shop, [PASSWORD, "wrong"] * (PARALLEL // 2))

    assert sorted({response.status_code for response in responses}) == [429]
    assert all(response.headers["Retry-After"].isdigit() for response in responses)
    assert failure_rows(app) == 5  # refused attempts left nothing behind


def test_parallel_wrong_logins_never_fail_and_check_at_most_five_passwords(app, live_shop, owner):
    responses = race_over_http(live_shop, [f"wrong {n}" for n in range(PARALLEL)])

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses
    # Only attempts that found fewer than five failures (or attempts under way) before them checked a password.
    assert failure_rows(app) <= 5


def test_parallel_logins_from_many_addresses_check_no_more_than_the_account_allows(app, owner):
    for n in range(15):
        login(app.test_client(), password="wrong", environ_base={"REMOTE_ADDR": f"10.1.0.{n + 1}"})
    assert failure_rows(app) == 15

    responses = race_from_addresses(app, [f"wrong {n}" for n in range(PARALLEL)])

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses
    # At most five of them found fewer than twenty failures (or attempts under way) and checked a password.
    assert 15 <= failure_rows(app) <= 20


def test_parallel_logins_against_a_locked_account_all_answer_429(app, owner):
    for n in range(20):
        login(app.test_client(), password="wrong", environ_base={"REMOTE_ADDR": f"10.1.0.{n + 1}"})

    responses = race_from_addresses(app, [PASSWORD, "wrong"] * (PARALLEL // 2))

    assert sorted({response.status_code for response in responses}) == [429]
    assert all("所有设备都无法登录" in response.get_data(as_text=True) for response in responses)
    assert failure_rows(app) == 20
