"""The architecture holds (issue 14): the contracts in pyproject.toml (`[tool.importlinter]`:
faces over the domain over the primitives, the domain without Textual, Rich or a face, the
app's screens in layers) and no import circles anywhere in `vault`.

Circles are checked twice: import-linter's `acyclic_siblings` sees circles between the siblings
of a package, and the test below sees every circle between modules, a package's `__init__`
with its own modules included, counting imports inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vault"


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    if exe.exists():
        return str(exe)
    found = shutil.which("lint-imports")
    if not found:
        pytest.fail(
            "import-linter is not installed (it is in the test extras: pip install -e '.[test]')"
        )
    return found


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [_lint_imports(), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_part_of_vault_has_its_layer() -> None:
    """A new module or package at the top of `vault` is placed in the layers (and, if it is
    domain, among the modules that must not import the faces) rather than escaping both."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    layered = {name for layer in contracts["layers"]["layers"] for name in re.split(r"[|:]", layer)}
    layered = {name.strip() for name in layered}
    parts = {
        f"vault.{path.stem if path.suffix else path.name}"
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert parts == layered, f"not in a layer: {sorted(parts - layered)}"
    faces = {"vault.cli", "vault.tui", "vault.__main__"}
    assert set(contracts["domain-without-faces"]["source_modules"]) == parts - faces


# --- the import graph, by hand ------------------------------------------------------------------


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` is, or the nearest package holding it (`vault.x.y` -> `vault.x`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _known(alias.name, modules)) is not None:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            for alias in node.names:
                # `from vault.cli import output` imports the module vault.cli.output.
                target = _known(f"{origin}.{alias.name}", modules)
                if target is None or target != f"{origin}.{alias.name}":
                    target = _known(origin, modules)
                if target is not None:
                    found.add(target)
    found.discard(name)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = module_files(package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle through the component's first module, as a path that comes back to it."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node] & members):
            if succ == start:
                return [*paths[node], start]
            if succ not in paths:
                paths[succ] = [*paths[node], succ]
                queue.append(succ)
    return component  # not reached: a component of several modules has a circle


def describe(graph: dict[str, set[str]], components: list[list[str]]) -> str:
    lines = []
    for component in components:
        lines.append(f"{len(component)} modules import each other in a circle:")
        lines.append("  " + " -> ".join(a_cycle(graph, component)))
        for name in component:
            inside = sorted(graph[name] & set(component))
            lines.append(f"    {name} imports {', '.join(inside)}")
    return "\n".join(lines)


def test_no_import_circles() -> None:
    graph = import_graph()
    assert {"vault.notes.vault", "vault.tui.app", "vault.cli"} <= set(graph)
    assert "vault.tui.screens.main" in graph["vault.tui.app"]  # the graph sees imports at all
    components = circles(graph)
    assert not components, describe(graph, components)


def test_the_circle_finder_finds_circles(tmp_path: Path) -> None:
    """The check above would pass on a graph it cannot read: here it must fail, and say where
    (a function-level import, a relative one and one under TYPE_CHECKING each close a circle)."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import thing\n"
    )
    (pkg / "alone.py").write_text("import pkg.a\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub"] == {"pkg.sub.c"}
    components = circles(graph)
    assert components == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    text = describe(graph, components)
    assert "pkg.a -> pkg.b -> pkg.sub.c -> pkg.a" in text
