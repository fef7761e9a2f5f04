"""The layers, read from the source: the pool knows nothing of the game, the game uses only what
keymanager.services exports, nothing imports from a management command, and the key admin
writes through services only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import keymanager.services

ROOT = Path(__file__).resolve().parents[2]
ORM_WRITES = {"save", "update", "delete", "create", "bulk_create", "bulk_update", "get_or_create",
              "update_or_create", "save_model", "delete_model", "delete_queryset", "save_formset"}


def modules(package: str, *, skip: tuple[str, ...] = ("migrations",)) -> list[Path]:
    return [p for p in sorted((ROOT / package).rglob("*.py")) if not any(part in skip for part in p.parts)]


def imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_keymanager_neither_imports_nor_looks_up_the_game():
    offences = []
    for path in modules("keymanager"):
        offences += [f"{path.relative_to(ROOT)}: import {m}" for m, _ in imports(path) if m.split(".")[0] == "quests"]
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get_model", "is_installed", "get_app_config")
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and str(node.args[0].value).split(".")[0] == "quests"):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.attr}({node.args[0].value!r})")
    assert not offences, offences


def test_the_game_uses_only_what_keymanager_services_exports():
    exported = set(keymanager.services.__all__)
    offences = []
    for path in modules("quests"):
        for module, names in imports(path):
            if module.split(".")[0] != "keymanager":
                continue
            if module != "keymanager.services" or not set(names) <= exported:
                offences.append(f"{path.relative_to(ROOT)}: from {module} import {', '.join(names)}")
    assert not offences, offences


@pytest.mark.parametrize("package", ["keymanager", "quests", "cosmosquest"])
def test_nothing_but_a_command_imports_from_a_management_command(package):
    # A command may extend another (qcluster wraps django-q2's); services and tasks may not use one.
    offences = [f"{path.relative_to(ROOT)}: {module}" for path in modules(package, skip=("migrations", "commands"))
                for module, _ in imports(path) if ".management.commands" in module]
    assert not offences, offences


def test_the_key_admin_and_its_forms_write_through_services_only():
    offences = []
    for path in (ROOT / "keymanager" / "admin.py", ROOT / "keymanager" / "admin_forms.py"):
        tree = ast.parse(path.read_text())
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.startswith("Key")):
            for node in ast.walk(cls):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    target = node.func.value
                    via_super = isinstance(target, ast.Call) and getattr(target.func, "id", "") == "super"
                    writes = node.func.attr in ORM_WRITES and node.func.attr not in ("save_model", "delete_model",
                                                                                     "delete_queryset")
                    if writes or (via_super and node.func.attr in ORM_WRITES):
                        offences.append(f"{path.name}:{node.lineno}: {cls.name} calls .{node.func.attr}()")
    assert not offences, offences


def test_selectors_read_without_importing_services():
    """Services decide and may read through selectors; selectors (and the pure ledger and
    settings modules they build on) never import a service."""
    paths = [*modules("keymanager/selectors"), *modules("keymanager/ledger"),
             *(ROOT / "keymanager" / name for name in ("conf.py", "clock.py", "tokens.py", "outcome_rules.py"))]
    offences = [f"{path.relative_to(ROOT)}: {module}" for path in paths for module, _ in imports(path)
                if module.startswith("keymanager.services")]
    assert len(paths) >= 12 and not offences, offences


def test_the_ledger_is_pure_python():
    """The budget ledger knows no Django and no database: services load, decide and store it."""
    offences = [f"{path.relative_to(ROOT)}: {module}" for path in modules("keymanager/ledger")
                for module, _ in imports(path) if module.split(".")[0] in ("django", "keymanager")
                and not module.startswith("keymanager.ledger")]
    assert not offences, offences


def test_only_the_budgets_module_writes_budget_rows():
    """One owner of a table's writes: every UPDATE of the budget rows is in services/budgets.py."""
    offences = []
    for path in modules("keymanager"):
        if path.name == "budgets.py" or "migrations" in path.parts:
            continue
        text = path.read_text()
        if "Budget.objects" in text and any(w in text for w in (".update(", ".create(", ".delete(", "bulk_create")):
            for node in ast.walk(ast.parse(text)):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ORM_WRITES and "Budget" in ast.unparse(node.func.value)):
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        if "budget_table" in text or "UPDATE {TABLE}" in text or "keymanager_budget" in text:
            offences.append(f"{path.relative_to(ROOT)}: raw SQL on the budget table")
    assert not offences, offences
