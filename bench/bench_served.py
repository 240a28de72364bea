"""Served commands (issue 15): `vault` with an unlocked session, answered by the session agent
(the thin client, vault.session.thin), against the same command run in its own process
(`VAULT_AGENT_SERVE=0`: the key from the agent, the vault opened by the command), and against
pass and jrnl on the same notes, side by side.

The operations are what people type: list all (after the last round's add, and again with
nothing changed since), search a word in about 1% of the notes, show a
note by the 8-character id `vault ls` prints, by its title, and by its full id, and add one.
Every run of every tool is interleaved (operation by operation, round by round, the tools'
order rotating), so the load of a shared machine falls on all of them alike; each cell is the
median wall time of whole commands (process start to exit, output to a file), and the ratios
are medians of the per-round ratios of paired runs.

    python bench/bench_served.py            # 10,000 notes; pass and jrnl if installed
    VAULT_BENCH_BEFORE=DIR python bench/bench_served.py   # also the code checked out in DIR
    VAULT_BENCH_SMOKE=1 python bench/bench_served.py
    VAULT_BENCH_EDITABLE=1 python bench/bench_served.py   # this venv's `vault` as it is

`vault` runs as a person's install runs it (`installed_like`): the installed script of
scripts/vault in a venv that finds the package by a plain path. The development venv's editable
install imports an import hook at every start (pathlib, re, urllib...: 7-10 ms of a 25 ms
command here), which no installed copy does.

pass's search (`pass grep`, one gpg per note) takes minutes at 10,000 notes: it runs once,
and only with VAULT_BENCH_PASS_GREP=1 (issue 15 measured it at 146 s).
"""

from __future__ import annotations

import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_peers as peers
from common import PASSWORD, SMOKE, WORK, sample_vault

import vault
from vault.sealing.envelope import short

NOTES = 50 if SMOKE else 10_000
ROUNDS = 1 if SMOKE else int(os.environ.get("VAULT_BENCH_ROUNDS", "7"))
OPS = (
    "list all",
    "list all again",
    "search",
    "show by short id",
    "show by title",
    "show by full id",
    "add one",
)
HERE = Path(__file__).resolve().parent
# `vault` from another checkout (argv[1]): its folder first, and not the editable install's
# import hook, which would find this checkout's package.
BEFORE = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in "
    "getattr(f, '__module__', '')]; sys.path.insert(0, sys.argv.pop(1)); "
    "from vault.cli import main; sys.exit(main(sys.argv[1:]))"
)


def vault_commands(task: peers.Task, exe: list[str]) -> dict[str, peers.Command]:
    add = task.add
    return {
        "list all": lambda i: ([*exe, "ls"], ""),
        "list all again": lambda i: ([*exe, "ls"], ""),  # nothing changed since
        "search": lambda i: ([*exe, "search", task.word], ""),
        "show by short id": lambda i: ([*exe, "show", short(task.show.id)], ""),
        "show by title": lambda i: ([*exe, "show", task.show.title], ""),
        "show by full id": lambda i: ([*exe, "show", task.show.id], ""),
        "add one": lambda i: (
            [*exe, "new", f"{add.title} {i}", "--notebook", add.notebook],
            add.body,
        ),
    }


def installed_like(folder: Path) -> list[str]:
    """`vault` as installed (pip install, pipx): a venv whose site-packages finds this source
    tree and this venv's dependencies by a plain .pth (no editable import hook), and the script
    scripts/vault with its `#!python` made this venv's interpreter, as pip makes it."""
    venv = folder / "installed-venv"
    if not (venv / "bin" / "python3").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "vault-source.pth").write_text(f"{HERE.parent}\n{deps}\n")
    script = venv / "bin" / "vault"
    source = (HERE.parent / "scripts" / "vault").read_text().split("\n", 1)[1]
    script.write_text(f"#!{venv / 'bin' / 'python3'}\n{source}")
    script.chmod(0o755)
    return [str(script)]


def main() -> int:
    folder = WORK / ("served-smoke" if SMOKE else "served")
    folder.mkdir(parents=True, exist_ok=True)
    src = sample_vault(WORK / (f"core-{NOTES}" if SMOKE else "core-10k"), notes=NOTES)
    corpus = peers.read_corpus(src)
    task = peers.make_task(corpus)
    _, hits = peers.pick_word(corpus)
    path = folder / "vault"
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(src, path)
    runtime = folder / "run"
    shutil.rmtree(runtime, ignore_errors=True)
    runtime.mkdir(mode=0o700)
    editable = os.environ.get("VAULT_BENCH_EDITABLE") == "1"
    exe = peers.vault_exe() if editable else installed_like(folder)
    # The modules' bytecode, as installing a wheel writes it: an editable install run with
    # PYTHONDONTWRITEBYTECODE would compile the thin client again in every command (5-8 ms).
    compileall.compile_dir(Path(vault.__file__).parent, quiet=1)
    env = peers.vault_env(path, with_password=False)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env.pop("VAULT_AGENT_SERVE", None)
    normal = dict(env, VAULT_AGENT_SERVE="0")
    tools: dict[str, tuple[dict[str, str], dict[str, peers.Command]]] = {
        "vault, served": (env, vault_commands(task, exe)),
        "vault, own process": (normal, vault_commands(task, exe)),
    }
    before = os.environ.get("VAULT_BENCH_BEFORE")  # a checkout of the code before, to compare
    if before:
        old = [sys.executable, "-c", BEFORE, before]
        tools["vault, before"] = (normal, vault_commands(task, old))
    missing = peers.installed()
    skipped = []
    grep = os.environ.get("VAULT_BENCH_PASS_GREP") == "1"
    for name, make in (("pass", peers.pass_tool), ("jrnl", peers.jrnl_tool)):
        if SMOKE:  # bench_peers proves they still run; here they would only add minutes
            skipped.append(f"{name}: smoke run")
            continue
        if name in missing:
            skipped.append(f"{name}: {missing[name]} (bench/peers/install.sh)")
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        tool = make(corpus, peers.PEERS / name, task)
        commands = dict(tool.commands)
        commands["show by short id"] = commands["show by title"] = commands.pop("show one")
        commands["list all again"] = commands["list all"]
        if name == "pass" and not grep and not SMOKE:
            commands.pop("search")
        tools[name] = (tool.env, commands)
    peers.run_once([*exe, "unlock"], dict(env, VAULT_PASSWORD=PASSWORD))
    times: dict[tuple[str, str], list[float]] = {}
    start = time.perf_counter()
    try:
        names = list(tools)
        for r in range(ROUNDS + 1):  # round 0 warms every command up and is not counted
            for op in OPS:
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    tool_env, commands = tools[name]
                    if op not in commands or (name == "pass" and op == "search" and r > 0):
                        continue
                    argv, stdin = commands[op](r)
                    took = peers.run_once(argv, tool_env, stdin)[0]
                    if r > 0 or (name == "pass" and op == "search"):
                        times.setdefault((name, op), []).append(took)
    finally:
        peers.run_once([*exe, "lock"], env)
    took = time.perf_counter() - start
    print(report(tools, times, task, hits, len(corpus), skipped, took))
    return 0


def report(
    tools: dict,
    times: dict[tuple[str, str], list[float]],
    task: peers.Task,
    hits: int,
    corpus: int,
    skipped: list[str],
    took: float,
) -> str:
    names = list(tools)
    out = [
        f"## Served commands ({corpus:,} notes, an unlocked session; vault against pass and jrnl)",
        "",
        "Whole commands, as a person types them, in one interleaved run: each round runs every "
        "operation with every tool in turn (the tools' order rotating), after a warm-up round; "
        f"{ROUNDS} rounds. *served*: the `vault` command with the session agent answering (the "
        "thin client); *own process*: the same command with `VAULT_AGENT_SERVE=0`, the key from "
        "the agent and the vault opened by the command (the path before issue 15); *before*, when "
        "shown: that path with the code before this change (`VAULT_BENCH_BEFORE`). Search is "
        f"for `{task.word}` ({hits} of {corpus:,} notes); show is the note "
        f"`{short(task.show.id)}` by that short id, by its title, and by its full id (pass and "
        "jrnl name it their own way, one figure for both). The machine is shared (2 cores, "
        "several other jobs): absolute times are noisy; the ratios are medians of paired "
        "per-round ratios, which the load affects far less. `vault` ran "
        + (
            "from the development venv (its editable install's import hook loads at every start)."
            if os.environ.get("VAULT_BENCH_EDITABLE") == "1"
            else "as installed: scripts/vault in a venv that finds the package by a plain path "
            "(no editable install's import hook)."
        ),
        "",
        "| operation | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for op in OPS:
        cells = []
        for name in names:
            got = times.get((name, op))
            cells.append(peers.ms(statistics.median(got)) if got else "–")
        out.append(f"| {op} | " + " | ".join(cells) + " |")
    out += ["", "| operation | " + " | ".join(f"{n} ÷ served" for n in names[1:]) + " |"]
    out.append("|---|" + "---:|" * (len(names) - 1))
    for op in OPS:
        mine = times.get(("vault, served", op), [])
        cells = []
        for name in names[1:]:
            theirs = times.get((name, op), [])
            if not mine or not theirs:
                cells.append("–")
            elif len(theirs) == len(mine):
                cells.append(
                    f"{statistics.median(t / m for t, m in zip(theirs, mine, strict=True)):.2f}×"
                )
            else:
                cells.append(f"{statistics.median(theirs) / statistics.median(mine):.2f}×")
        out.append(f"| {op} | " + " | ".join(cells) + " |")
    out += ["", "Above 1×, the served `vault` command is faster."]
    if skipped:
        out += ["", "Not run: " + "; ".join(skipped) + "."]
    if "pass" in tools and ("pass", "search") not in times:
        out += [
            "",
            "`pass grep` (one gpg per note) was not run: minutes at 10,000 notes (issue 15: "
            "146 s); VAULT_BENCH_PASS_GREP=1 runs it once.",
        ]
    out += ["", f"_(interleaved runs took {took:.0f} s)_"]
    return "\n".join(out)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
