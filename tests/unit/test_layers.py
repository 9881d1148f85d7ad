"""The layers' contracts (pyproject.toml [tool.importlinter], run by `make lint`) name the route
modules and the modules below them by hand. These tests keep those lists true as modules come
and go, and check what import-linter cannot: that a route module hands the request's session to
its services and never uses it itself.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "portal"

# What registers the route modules and so may import them: the app factory, the WSGI entry
# point, the observability package's init_app (the metrics route's token), the `portal` command.
WIRING = ("portal", "portal.wsgi", "portal.observability", "portal.cli")

_ROUTE = re.compile(r"^@\w+\.(get|post|put|patch|delete|route)\(", re.MULTILINE)


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PORTAL.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _route_modules() -> set[str]:
    return {name for name, path in _modules().items() if _ROUTE.search(path.read_text())}


def _within(name: str, packages: list[str] | tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_both_contracts_name_exactly_the_route_modules() -> None:
    contracts = _contracts()
    routes = _route_modules()
    assert routes, "no route modules found: the pattern above no longer matches the code"
    assert set(contracts["routes-reach-data-through-services"]["source_modules"]) == routes
    assert set(contracts["nothing-below-imports-routes"]["forbidden_modules"]) == routes


def test_every_other_module_is_held_below_the_routes() -> None:
    below = _contracts()["nothing-below-imports-routes"]["source_modules"]
    routes = _route_modules()
    modules = _modules()
    loose = []
    for name, path in modules.items():
        if name in routes or _within(name, below) or name in WIRING or _within(name, WIRING[3:]):
            continue
        # A package holding routes and services is held module by module; its own
        # __init__ must then import no route module.
        if path.name == "__init__.py" and not _imports_any(path, routes):
            continue
        loose.append(name)
    assert not loose, f"add these to nothing-below-imports-routes in pyproject.toml: {loose}"


def _imports_any(path: Path, modules: set[str]) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            named = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            if named & modules:
                return True
        if isinstance(node, ast.Import) and {alias.name for alias in node.names} & modules:
            return True
    return False


def uses_of_the_session(source: str) -> list[int]:
    """Lines where a route module calls a method of `db.session()` (or of a name bound to
    it), or opens sessions or connections of its own through `db.database()`, instead of
    handing the request's session (or the session factory) to a service."""
    tree = ast.parse(source)
    bound = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and _is_db_call(node.value, "session")
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            owner = node.value
            if _is_db_call(owner, "session") or (isinstance(owner, ast.Name) and owner.id in bound):
                lines.append(node.lineno)
            elif _is_db_call(owner, "database") and node.attr == "engine":
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if _is_db_call(node.func.value, "database") and node.func.attr == "sessions":
                lines.append(node.lineno)
    return sorted(lines)


def _is_db_call(node: ast.AST, name: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "db"
    )


def test_route_modules_never_use_the_session_themselves() -> None:
    modules = _modules()
    offenders = [
        f"{name}:{line}"
        for name in sorted(_route_modules())
        for line in uses_of_the_session(modules[name].read_text())
    ]
    assert not offenders, f"query through the capability's services instead: {offenders}"


def test_a_route_that_queries_is_caught() -> None:
    view = (
        "def person(user_id):\n"
        "    found = services.person(db.session(), user_id)\n"
        "    other = db.session().get(User, user_id)\n"
        "    session = db.session()\n"
        "    session.execute(query)\n"
        "    db.database().sessions()\n"
        "    db.database().engine.connect()\n"
        "    scrape(db.database().sessions)\n"
    )
    assert uses_of_the_session(view) == [3, 5, 6, 7]
