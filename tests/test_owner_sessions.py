"""Per-owner session versions: logging out, or a password reset, ends every session, copied cookies included."""
from pathlib import Path

from sqlalchemy import inspect, text

from blueprints.admin.commands import create_owner
from extensions import db
from models import Owner
from services.owner_login import owner_for_session
from tests.helpers import OWNER, csrf, flask_db, login

ROOT = Path(__file__).resolve().parent.parent


def copy_session(source, target) -> None:
    """Put ``source``'s session cookie into ``target``, as someone who copied it from the browser would."""
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)


def is_logged_in(client) -> bool:
    response = client.get("/admin/orders")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    return False


def log_out(client) -> None:
    response = client.post("/admin/logout", data={"csrf_token": csrf(client)})
    assert response.headers["Location"] == "/admin/login"


def test_the_session_holds_the_owner_id_and_session_version(app, owner):
    with app.app_context():
        account = db.session.get(Owner, owner)
        assert account.session_version == 0
        assert account.get_id() == f"{owner}:0"
        assert owner_for_session(f"{owner}:0").id == owner
        for stale in (f"{owner}:1", str(owner), f"{owner}:", ":0", f"{owner}:0:0", "x:0", ""):
            assert owner_for_session(stale) is None, stale


def test_a_copied_cookie_stops_working_when_the_owner_logs_out(app, owner, owner_client):
    copy = app.test_client()
    copy_session(owner_client, copy)
    assert is_logged_in(copy)

    log_out(owner_client)

    assert not is_logged_in(copy)
    assert not is_logged_in(owner_client)
    with app.app_context():
        assert db.session.get(Owner, owner).session_version == 1


def test_logging_out_in_one_browser_logs_out_the_others(app, owner_client):
    phone = app.test_client()
    assert login(phone).status_code == 302
    assert is_logged_in(phone)

    log_out(owner_client)

    assert not is_logged_in(phone)
    # Logging in again works, and an old copy of a cookie stays out.
    copy = app.test_client()
    copy_session(phone, copy)
    assert login(owner_client).status_code == 302
    assert is_logged_in(owner_client)
    assert not is_logged_in(copy)


def test_a_password_reset_ends_every_session(app, runner, owner_client):
    copy = app.test_client()
    copy_session(owner_client, copy)

    result = runner.invoke(create_owner, ["--username", OWNER, "--password", "a brand new secret", "--reset"])

    assert result.exit_code == 0, result.output
    assert "所有已登录的会话都已退出" in result.output
    assert not is_logged_in(copy)
    assert not is_logged_in(owner_client)
    assert login(owner_client, password="a brand new secret").status_code == 302
    assert is_logged_in(owner_client)


def test_a_refused_reset_leaves_the_sessions_alone(runner, owner_client):
    result = runner.invoke(create_owner, ["--username", OWNER, "--password", "password123", "--reset"])

    assert result.exit_code != 0
    assert is_logged_in(owner_client)


def owner_columns(app) -> set[str]:
    with app.app_context(), db.engine.connect() as connection:
        return {column["name"] for column in inspect(connection).get_columns("owner")}


def test_migration_0003_gives_existing_owners_version_0_and_downgrades(app, database_url, empty_database):
    flask_db(database_url, "upgrade", "0002")
    with app.app_context():
        db.session.execute(text("INSERT INTO owner (username, password_hash, created_at) "
                                "VALUES ('boss', 'scrypt:x', '2026-11-27 00:00:00')"))
        db.session.commit()

    flask_db(database_url, "upgrade", "0003")

    assert "session_version" in owner_columns(app)
    with app.app_context():
        assert db.session.execute(text("SELECT username, session_version FROM owner")).all() == [("boss", 0)]

    flask_db(database_url, "downgrade", "0002")

    assert "session_version" not in owner_columns(app)
    with app.app_context():
        assert db.session.execute(text("SELECT username FROM owner")).scalars().all() == ["boss"]
