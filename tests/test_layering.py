"""The import rules of DESIGN.md, checked on the source: data flows one way, the SDK stays in its adapter."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOP_PACKAGES = {"app", "blueprints", "commands", "config", "core", "extensions", "gunicorn_logging", "http_policy",
                 "jobs", "models", "payments", "seed", "services", "settings_check", "templating", "wsgi"}

# package -> what modules inside it must never import (prefix match on the dotted name).
FORBIDDEN = {
    "core": SHOP_PACKAGES - {"core"},
    "models": {"services", "blueprints", "payments", "jobs", "templating", "app", "flask"},
    "payments": {"models", "services", "blueprints", "jobs", "templating", "extensions", "app"},
    "services": {"blueprints", "templating", "jobs", "app", "payments.wechatpay_v3", "wechatpayv3", "flask.templating"},
    "jobs": {"blueprints", "templating", "app", "payments.wechatpay_v3", "wechatpayv3"},
    "blueprints": {"payments.wechatpay_v3", "wechatpayv3", "jobs"},
}


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def matches(name: str, rule: str) -> bool:
    return name == rule or name.startswith(rule + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_against_the_flow(package):
    broken = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imports_of(path):
            if any(matches(name, rule) for rule in FORBIDDEN[package]):
                broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert broken == []


def test_only_the_adapter_imports_the_wechat_pay_sdk():
    users = [
        str(path.relative_to(ROOT)) for path in sorted(ROOT.glob("[!.]*/**/*.py")) + sorted(ROOT.glob("*.py"))
        if not path.is_relative_to(ROOT / "tests") and not path.is_relative_to(ROOT / "sandbox")
        and any(matches(name, "wechatpayv3") for name in imports_of(path))
    ]
    assert users == ["payments/wechatpay_v3.py"]



def test_the_shop_imports_nothing_from_the_sandbox():
    """The sandbox is a separate package: the shop tells it from WeChat Pay only by URL and keys."""
    shop_files = [path for path in sorted(ROOT.glob("[!.]*/**/*.py")) + sorted(ROOT.glob("*.py"))
                  if path.relative_to(ROOT).parts[0] not in ("tests", "sandbox", "migrations")]
    users = [str(path.relative_to(ROOT)) for path in shop_files
             if any(matches(name, "wechatpay_sandbox") or matches(name, "sandbox") for name in imports_of(path))]
    assert users == []
    assert len(shop_files) > 40
