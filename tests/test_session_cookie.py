"""The session cookie opened once per process (session_cookie.py): the same answers as Flask's own interface."""
from datetime import timedelta

import pytest
from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from freezegun import freeze_time

from session_cookie import RememberingSessionInterface


@pytest.fixture
def shop_app():
    app = Flask(__name__)
    app.secret_key = "k" * 32
    app.permanent_session_lifetime = timedelta(days=7)
    app.session_interface = RememberingSessionInterface(capacity=2)

    @app.get("/put")
    def put():
        session["cart"] = {request.args.get("id", "7"): 2}
        return "ok"

    @app.get("/take")
    def take():
        cart = session.get("cart", {})
        before = dict(cart)
        cart["8"] = 1  # a request may change what it was given; the next request must not see it
        return {"before": before}

    return app


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def test_a_remembered_cookie_gives_fresh_data_without_verifying_again(shop_app, monkeypatch):
    client = shop_app.test_client()
    client.get("/put")
    verified = []
    serializer = shop_app.session_interface.get_signing_serializer
    monkeypatch.setattr(shop_app.session_interface, "get_signing_serializer",
                        lambda app: verified.append(1) or serializer(app))

    answers = [client.get("/take").get_json()["before"] for _ in range(3)]

    assert answers == [{"7": 2}] * 3
    assert len(verified) == 1  # the first request verified the cookie; the other two found it remembered


def test_a_changed_cookie_is_refused_like_flasks(shop_app):
    client = shop_app.test_client()
    client.get("/put")
    cookie = cookie_of(client)
    client.set_cookie("session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))

    assert client.get("/take").get_json()["before"] == {}


@pytest.mark.parametrize("remembered", [True, False])
def test_a_cookie_past_the_session_lifetime_opens_empty(shop_app, remembered):
    client = shop_app.test_client()
    with freeze_time("2026-12-07 12:00:00") as clock:
        client.get("/put")
        if remembered:
            assert client.get("/take").get_json()["before"] == {"7": 2}
        clock.tick(timedelta(days=7, seconds=1))

        opened = client.get("/take").get_json()["before"]
        flasks = SecureCookieSessionInterface().open_session(shop_app, shop_app.test_request_context(
            headers={"Cookie": f"session={cookie_of(client)}"}).request)

    assert opened == {} and dict(flasks) == {}


def test_it_remembers_at_most_its_capacity(shop_app):
    clients = [shop_app.test_client() for _ in range(3)]
    for n, client in enumerate(clients):
        client.get(f"/put?id={n}")
        client.get("/take")

    assert list(shop_app.session_interface.verified) == [cookie_of(client) for client in clients[1:]]
    assert [client.get("/take").get_json()["before"] for client in clients] == [{"0": 2}, {"1": 2}, {"2": 2}]
