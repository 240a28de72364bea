"""Before and after on the commands a person types with an unlocked session at 100,000 notes
(issue 15): links, backlinks, renames, the daily note, conflicts, reorganising notebooks and
tags, emptying the trash, then a listing, each through the real `vault` command of two
installs, interleaved. Prints a Markdown table for HISTORY.md.

    python -m venv /tmp/venv-before && /tmp/venv-before/bin/pip install OLD_CHECKOUT
    python bench/compare_served_commands.py --before /tmp/venv-before/bin/vault [--rounds 2]

Each side runs its own `vault` (`--after` defaults to the one beside this interpreter) on its
own copy of the same sample vault (bench/common.py), with its own session: `vault unlock`
(with another COLUMNS, so the listing it lays out ahead is not the one measured), a pause for
the agent to open the vault, a note with a tag and one in the trash to work on, then every
command once, in order, timed as a whole process (start to exit, output to a pipe). Sides
alternate which goes first, round by round; each figure is the median over the rounds. The
commands run on both sides and must succeed on both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PASSWORD, WORK, sample_path, sample_vault

from vault.notes.vault import Vault

OPEN_SECONDS = 30.0  # for the agent to open 100,000 notes after `vault unlock`


def commands(r: int, title: str) -> list[tuple[str, list[str], str | None]]:
    linked = f"Round {r} linked"
    return [
        ("new (a note with links)", ["new", linked], f"See [[{title}]] and [[Nowhere]]\n"),
        ("links TITLE (the first)", ["links", linked], None),
        ("backlinks TITLE", ["backlinks", title], None),
        ("rename TITLE NEW", ["rename", title, f"Renamed in round {r}"], None),
        ("rename back", ["rename", f"Renamed in round {r}", title], None),
        ("today --print", ["today", "--print"], None),
        ("today --append LINE", ["today", "--append", f"round {r}"], None),
        ("conflicts", ["conflicts"], None),
        ("notebook new", ["notebook", "new", f"Round {r}/Inner"], None),
        ("notebook rename", ["notebook", "rename", f"Round {r}", f"Round {r} renamed"], None),
        ("notebook rm --yes", ["notebook", "rm", f"Round {r} renamed", "--yes"], None),
        ("tag rename (a tag on one note)", ["tag", "rename", "round-tag", f"round-tag-{r}"], None),
        ("empty-trash --yes (one note)", ["empty-trash", "--yes"], None),
        ("attachments TITLE", ["attachments", title], None),
        ("ls, after all that", ["ls"], None),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="the old install's `vault`")
    parser.add_argument("--after", type=Path, default=Path(sys.executable).with_name("vault"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--notes", type=int, default=100_000)
    opts = parser.parse_args()
    src = sample_vault(sample_path(opts.notes), opts.notes)
    with Vault.unlock(src, password=PASSWORD) as v:
        notes = v.notes(sort="created")
        titles = [n.title for n in notes]
        title = next(t for t in titles[len(titles) // 2 :] if titles.count(t) == 1)
    work = WORK / "served-commands"
    sides = {"before": opts.before.resolve(), "after": opts.after.resolve()}
    times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for r in range(opts.rounds):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for side in order:
            exe = str(sides[side])
            folder = work / side
            vault_dir, run = folder / "vault", folder / "run"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(src, vault_dir)
            run.mkdir(mode=0o700, parents=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
            env.update(
                VAULT_DIR=str(vault_dir),
                VAULT_CONFIG=str(folder / "config.toml"),
                XDG_RUNTIME_DIR=str(run),
            )

            def vault(
                *argv: str,
                stdin: str | None = None,
                exe: str = exe,
                env: dict[str, str] = env,
                **extra: str,
            ) -> None:
                subprocess.run(
                    [exe, *argv],
                    env={**env, **extra},
                    input=stdin.encode() if stdin is not None else None,
                    stdin=None if stdin is not None else subprocess.DEVNULL,
                    capture_output=True,
                    check=True,
                )

            vault("unlock", VAULT_PASSWORD=PASSWORD, COLUMNS="77")
            try:
                time.sleep(OPEN_SECONDS)
                vault("new", f"Tagged {r}", "--tag", "round-tag", "--no-edit")
                vault("new", f"Binned {r}", "--no-edit")
                vault("rm", f"Binned {r}")
                time.sleep(3)
                for name, argv, stdin in commands(r, title):
                    start = time.perf_counter()
                    vault(*argv, stdin=stdin)
                    times[side].setdefault(name, []).append(time.perf_counter() - start)
                    time.sleep(0.3)  # a person's pause; the agent's idle work runs in it
            finally:
                vault("lock")
            shown = {n: round(v[-1], 2) for n, v in times[side].items()}
            print(f"round {r} {side} load {os.getloadavg()[0]:.2f} {shown}", file=sys.stderr)
    print(f"| {opts.notes:,} notes, with a session | before | after | after ÷ before |")
    print("|---|---:|---:|---:|")
    for name in times["after"]:
        before = statistics.median(times["before"][name])
        after = statistics.median(times["after"][name])
        print(f"| `vault {name}` | {before:.2f} s | {after:.2f} s | {after / before:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
