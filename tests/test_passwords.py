"""The password rule (services/passwords.py)."""
import pytest

from services.passwords import common_passwords, password_problem
from tests.helpers import OWNER, PASSWORD

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
