"""The layout of vault.cli: its modules import one another without a circle, the command modules
import what they share from vault.cli.common (never the package, whose __init__ imports the
parser), and the app imports nothing of the command line.

Read from the source with `ast`, every import counted, those inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vault

ROOT = Path(vault.__file__).parent
CLI = ROOT / "cli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The modules `path` imports; `from package import submodule` counts as the submodule."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                found.add(sub if is_module else node.module)
    return found


def _cli_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CLI.glob("*.py")}
    return {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph`, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[name] = 2
        path.pop()
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_cli_modules_import_one_another_without_a_circle() -> None:
    graph = _cli_graph()
    assert {"vault.cli", "vault.cli.parser", "vault.cli.common"} <= set(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_cli_module_imports_the_package_itself() -> None:
    importers = sorted(name for name, deps in _cli_graph().items() if "vault.cli" in deps)
    assert importers == [], "import from vault.cli.common (or the module itself) instead"


def test_common_imports_no_command_module() -> None:
    deps = _cli_graph()["vault.cli.common"]
    assert deps <= {"vault.cli.output", "vault.cli.columns"}, deps


def test_the_app_imports_nothing_of_the_command_line() -> None:
    for path in sorted((ROOT / "tui").rglob("*.py")):
        wrong = sorted(m for m in _imports(path) if m == "vault.cli" or m.startswith("vault.cli."))
        assert wrong == [], f"{path.relative_to(ROOT.parent)} imports {wrong}"
