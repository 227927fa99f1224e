"""The ``vault`` command is a package of groups that share only the public names of ``vault.cli.common``."""

from __future__ import annotations

import ast
from pathlib import Path

import vault.cli
from vault.cli import cli

PACKAGE = Path(vault.cli.__file__).parent


def _private_imports(source: str, module: str) -> list[str]:
    """``from vault.cli.<other> import _name`` (or ``import vault.cli.<other>._x``) in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vault.cli"):
            if node.module != f"vault.cli.{module}":
                found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("vault.cli.") and "._" in a.name]
    return found


def test_no_group_imports_another_modules_private_names() -> None:
    offending = {
        path.name: names
        for path in sorted(PACKAGE.glob("*.py"))
        if (names := _private_imports(path.read_text(encoding="utf-8"), path.stem))
    }
    assert offending == {}


def test_the_check_sees_a_private_import_across_modules() -> None:
    assert _private_imports("from vault.cli.common import _witness_key\n", "log") == ["vault.cli.common._witness_key"]
    assert _private_imports("def f():\n    from vault.cli.serve import _run_server\n", "db") == [
        "vault.cli.serve._run_server"
    ]
    assert _private_imports("from vault.cli.common import with_runtime\n", "idp") == []


def test_every_group_is_registered_on_the_root_command() -> None:
    assert sorted(cli.commands) == [
        "agency", "audit", "auditor", "citizens", "config", "db", "idp", "keys", "log", "serve", "service", "witness",
    ]  # fmt: skip
    assert sorted(cli.commands["log"].commands) == ["prune", "verify"]  # type: ignore[attr-defined]
