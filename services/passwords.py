"""The one password rule for owner accounts: long enough, and not a password people guess first."""
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 200
COMMON_PASSWORDS_FILE = Path(__file__).with_name("data") / "common_passwords.txt"
# Character runs people type as "random": the alphabet, and the keyboard from the digit row down
# (so "1234567890qwer" and "qwertyuiopasdf" are runs too). Also refused read backwards.
RUNS = ("abcdefghijklmnopqrstuvwxyz", "1234567890qwertyuiopasdfghjklzxcvbnm")
# A unit this short repeated ("aaaaaaaaaa", "abcabcabca", "1qaz1qaz1qaz") is as weak as the unit.
LONGEST_REPEATED_UNIT = 4
# Shorter user names are not looked for: a one-letter name would refuse nearly every password.
SHORTEST_USERNAME_CHECKED = 3


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower case."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def is_repetition(text: str) -> bool:
    """Whether ``text`` is one short unit (up to LONGEST_REPEATED_UNIT characters) over and over."""
    for size in range(1, min(LONGEST_REPEATED_UNIT, len(text) // 2) + 1):
        unit = text[:size]
        if (unit * (len(text) // size + 1))[:len(text)] == text:
            return True
    return False


def is_run(text: str) -> bool:
    """Whether ``text`` is a stretch of the alphabet or of the keyboard, forwards or backwards."""
    return any(text in run or text in run[::-1] for run in RUNS)


def password_problem(password: str | None, username: str | None = "") -> str | None:
    """Why ``password`` may not be the owner's password, in Chinese; None when it may.

    Every place that sets a password (``flask create-owner``, ``--reset``, the development owner) asks this.
    """
    password = password or ""
    folded = password.casefold()
    name = (username or "").strip().casefold()
    if len(password) < MIN_LENGTH:
        return f"密码至少 {MIN_LENGTH} 个字符"
    if len(password) > MAX_LENGTH:
        return f"密码最多 {MAX_LENGTH} 个字符"
    if password.isdigit():
        return "密码不能全是数字"
    if is_repetition(folded):
        return "密码不能是同一个字符（或几个字符）的重复"
    if is_run(folded):
        return "密码不能是简单的连续字符（如 abcdefghij、qwertyuiop）"
    if len(name) >= SHORTEST_USERNAME_CHECKED and name in folded:
        return "密码不能包含用户名"
    if folded in common_passwords():
        return "这是常见密码，很容易被猜到，请换一个"
    return None
