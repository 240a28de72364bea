"""The wheel and the sdist carry every file the package reads at run time.

The suite runs from an editable install, which reads files straight from the source tree, so a
file missing from the wheel (the app's stylesheet once was) would pass every other test and
crash the installed app on start. Here the real build backend builds both from a copy of the
tracked files, and every non-Python file under vault/ must be in each.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode == 0 and listed.stdout:
        return [name for name in listed.stdout.decode().split("\0") if name]
    # not a git checkout (an unpacked sdist): take what is on disk
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]


def _build(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    for name in _tracked_files():
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    out = tmp_path / "dist"
    out.mkdir()
    # `build` makes both as pip and pipx do: in an isolated environment with the build
    # requirements of pyproject.toml, the sdist first and the wheel from the sdist.
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, (built.stdout + built.stderr)[-2000:]
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def test_wheel_and_sdist_carry_every_package_file(tmp_path: Path) -> None:
    needed = sorted(
        name for name in _tracked_files() if name.startswith("vault/") and not name.endswith(".py")
    )
    assert "vault/tui/vault.tcss" in needed  # the file that was once left out
    wheel, sdist = _build(tmp_path)
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(root + "/") for name in archive.getnames()}
    assert [name for name in needed if name not in in_wheel] == []
    assert [name for name in needed if name not in in_sdist] == []
    # and every module, so nothing is importable only from the source tree
    modules = [n for n in _tracked_files() if n.startswith("vault/") and n.endswith(".py")]
    assert [name for name in modules if name not in in_wheel] == []
