"""The password rule (services/passwords.py) and every place that sets a password: `flask create-owner` and
its --reset, and the development owner."""
import ast
from pathlib import Path

import pytest
from sqlalchemy import func, select

from blueprints.admin.commands import create_owner, ensure_dev_owner
from extensions import db
from models import Owner
from services import owners
from services.passwords import common_passwords, password_problem
from tests.helpers import OWNER, PASSWORD

ROOT = Path(__file__).resolve().parent.parent
# The passwords Chinese users favour most, from the published leak statistics; the list must know them all.
CHINESE_FAVOURITES = ["woaini1314", "5201314", "1qaz2wsx", "a123456789", "qq123456", "aa123456", "iloveyou",
                      "password123", "123456789", "88888888", "dearbook", "1314520", "woaini520"]


@pytest.mark.parametrize(("password", "username", "problem"), [
    ("", "boss", "至少 10 个字符"),
    ("short", "boss", "至少 10 个字符"),
    ("x" * 201, "boss", "最多 200 个字符"),
    ("3141592653", "boss", "全是数字"),
    ("12345678901234", "boss", "全是数字"),
    ("aaaaaaaaaa", "boss", "重复"),
    ("ZZZZZZZZZZZZ", "boss", "重复"),
    ("abcabcabca", "boss", "重复"),
    ("1qaz1qaz1qaz", "boss", "重复"),
    ("abcdefghij", "boss", "连续字符"),
    ("ABCDEFGHIJKL", "boss", "连续字符"),
    ("zyxwvutsrq", "boss", "连续字符"),
    ("qwertyuiop", "boss", "连续字符"),
    ("poiuytrewq", "boss", "连续字符"),
    ("asdfghjklzx", "boss", "连续字符"),
    ("7890qwerty", "boss", "连续字符"),
    ("boss-secret-2026", "boss", "用户名"),
    ("myBOSSshop!", "Boss", "用户名"),
    ("woaini1314", "boss", "常见密码"),
    ("WoAiNi1314", "boss", "常见密码"),
    ("a123456789", "boss", "常见密码"),
    ("Password123", "boss", "常见密码"),
    ("1qaz2wsx3edc", "boss", "常见密码"),
])
def test_weak_passwords_are_refused_with_the_reason(password, username, problem):
    assert problem in password_problem(password, username)


@pytest.mark.parametrize(("password", "username"), [
    (PASSWORD, OWNER),
    ("a long enough secret", "boss"),
    ("Xq7#pLm2vR", "admin"),
    ("我家小店二〇二六年开张", "boss"),
    ("abcdefghij!", "boss"),  # a run with something added is not a bare run
    ("ab-cd-ef-gh-ij", "ab"),  # user names shorter than 3 characters are not looked for
])
def test_good_passwords_pass(password, username):
    assert password_problem(password, username) is None


def test_the_bundled_list_holds_a_few_hundred_lower_case_passwords_with_the_chinese_favourites():
    listed = common_passwords()
    assert 300 <= len(listed) <= 2000
    assert all(password == password.casefold() and password.strip() == password for password in listed)
    assert set(CHINESE_FAVOURITES) <= listed


@pytest.mark.parametrize("password", CHINESE_FAVOURITES)
def test_every_chinese_favourite_is_refused_whatever_its_length_or_case(password):
    assert password_problem(password, "boss") is not None
    assert password_problem(password.upper(), "boss") is not None


# -- flask create-owner ------------------------------------------------------------------------------

@pytest.mark.parametrize(("password", "problem"), [
    ("1234567890", "全是数字"), ("asdfghjklz", "连续字符"), ("bossbossboss1", "用户名"), ("woaini1314", "常见密码"),
    ("iloveyou1314", "常见密码"), ("kkkkkkkkkkkk", "重复"),
])
def test_create_owner_refuses_weak_passwords(app, runner, password, problem):
    result = runner.invoke(create_owner, ["--username", "boss", "--password", password])

    assert result.exit_code != 0
    assert problem in result.output
    assert password not in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Owner)) == 0


def test_create_owner_asks_again_after_a_weak_password(app, runner):
    result = runner.invoke(create_owner, [], input="boss\nwoaini1314\nboss1234567\nnot-a-guessable-one\n"
                                                   "not-a-guessable-one\n")

    assert result.exit_code == 0, result.output
    assert "常见密码" in result.output and "用户名" in result.output
    with app.app_context():
        assert db.session.scalar(select(Owner).filter_by(username="boss")).check_password("not-a-guessable-one")


def test_the_password_is_checked_against_the_user_name_given_after_it(app, runner):
    # Click processes options in command-line order: here --password before --username; the service decides.
    result = runner.invoke(create_owner, ["--password", "theboss-secret", "--username", "theboss"])

    assert result.exit_code != 0
    assert "用户名" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Owner)) == 0


def test_reset_refuses_a_weak_password_and_keeps_the_old_one(app, runner, owner):
    result = runner.invoke(create_owner, ["--username", OWNER, "--password", "password123", "--reset"])

    assert result.exit_code != 0
    assert "常见密码" in result.output
    with app.app_context():
        assert db.session.get(Owner, owner).check_password(PASSWORD)


def test_the_services_refuse_weak_passwords_whoever_calls_them(app, owner):
    with app.app_context():
        with pytest.raises(owners.OwnerRefused, match="常见密码"):
            owners.create_owner("boss", "qq123456789")
        with pytest.raises(owners.OwnerRefused, match="用户名"):
            owners.reset_password(OWNER, f"{OWNER}-2026-summer")
        with pytest.raises(owners.OwnerRefused, match="没有用户名为"):
            owners.reset_password("nobody", "a long enough secret")
        assert db.session.scalar(select(func.count()).select_from(Owner)) == 1
        assert db.session.get(Owner, owner).check_password(PASSWORD)


def test_the_development_owner_gets_a_password_the_rule_accepts(app, tmp_path, monkeypatch):
    monkeypatch.delenv("SHOP_ENV", raising=False)
    app.instance_path = str(tmp_path)

    username, password = ensure_dev_owner(app)

    assert password_problem(password, username) is None


def test_passwords_are_set_only_by_the_owner_services():
    """`Owner.set_password` and `password_hash =` appear in services/owners.py (and the model) only."""
    setters = []
    for path in sorted(ROOT.glob("[!.]*/**/*.py")) + sorted(ROOT.glob("*.py")):
        if path.is_relative_to(ROOT / "tests") or path.is_relative_to(ROOT / "sandbox"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "set_password"
            assigned = isinstance(node, ast.Attribute) and node.attr == "password_hash" and isinstance(
                node.ctx, ast.Store)
            if called or assigned:
                setters.append(str(path.relative_to(ROOT)))
    assert sorted(set(setters)) == ["models/owner.py", "services/owners.py"]
