"""The domain never imports Textual: only vault/tui/ does, and `vault` imports it lazily.

Each check runs in a fresh interpreter, because this test process has long since imported
Textual for the TUI tests.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import vault

# The modules the issue names; vault.sync and vault.interchange.backup join when they exist.
NAMED = [
    "vault.sealing.crypto",
    "vault.sealing.envelope",
    "vault.sealing.keys",
    "vault.storage.store",
    "vault.notes.vault",
    "vault.notes.model",
    "vault.notes.search",
    "vault.config",
    "vault.editor",
    "vault.cli",
]


def domain_modules() -> list[str]:
    """Every module of the package outside vault.tui (new ones are covered as they appear)."""
    found = {
        info.name
        for info in pkgutil.walk_packages([str(Path(vault.__file__).parent)], prefix="vault.")
        if not info.name.startswith("vault.tui") and not info.name.endswith("__main__")
    }
    return sorted(found | set(NAMED))


def loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_domain_modules_do_not_import_textual() -> None:
    modules = domain_modules()
    assert {"vault.notes.vault", "vault.cli", "vault.storage.store"} <= set(modules)
    loaded = loaded_after_import(modules)
    assert "textual" not in loaded, "a domain module imports Textual"
    assert not any(name.startswith("textual.") for name in loaded)


def test_each_named_module_alone_is_textual_free() -> None:
    # One at a time too, so a module that only pulls Textual in on its own is caught.
    for name in NAMED + [
        m for m in ("vault.sync", "vault.interchange.backup") if m in domain_modules()
    ]:
        assert "textual" not in loaded_after_import([name]), name


def test_the_app_module_is_where_textual_lives() -> None:
    assert "textual" in loaded_after_import(["vault.tui.app"])


def test_building_the_cli_parser_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from vault.cli import build_parser\n"
        "build_parser().parse_args(['ls'])\n"
        "print('textual' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_parser_imports_no_sync_or_backup_code() -> None:
    """Building the parser (every `vault` command does) leaves the sync and backup machinery
    unimported: their handlers load when their command runs."""
    code = (
        "import sys, vault.cli; vault.cli.build_parser(); "
        "heavy = ('vault.sync', 'vault.interchange.backup', 'vault.cli.backup_commands', 'vault.interchange.backup_format', "
        "'vault.interchange.markdown_io', 'rich', 'textual'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy "
        "or m in heavy or m.startswith('vault.sync.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_resolve_choices_match_the_domains() -> None:
    from vault.cli.sync_arguments import CHOICES as ARGUMENT_CHOICES
    from vault.sync.conflicts import CHOICES

    assert ARGUMENT_CHOICES == CHOICES


def test_version_loads_no_command_line() -> None:
    """`vault --version` answers before the command line (and the domain) is imported."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['vault', '--version']\n"
        "try:\n"
        "    runpy.run_module('vault', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('vault.cli', 'vault.notes', 'nacl'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    first, last = result.stdout.strip().splitlines()
    assert first.startswith("vault ") and last == "[]"


def test_the_note_commands_load_no_attachment_link_or_template_code() -> None:
    """What `vault ls`, `show`, `search` and `new` import before they run (the parser, the
    domain): no attachments (and their thread pool and logging), links, renaming or templates;
    those load with the commands that use them."""
    code = (
        "import sys, vault.cli; vault.cli.build_parser().parse_args(['ls']); "
        "import vault.notes.vault; "
        "heavy = ('vault.notes.attachments', 'vault.storage.blobs', 'vault.notes.links', "
        "'vault.notes.renaming', 'vault.notes.templates', 'concurrent.futures', 'logging', "
        "'vault.sealing.strength'); "
        "print(sorted(m for m in sys.modules if m in heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
