"""Before and after on the path without a session (issue 15): the real `vault` command with the
password on every command (`VAULT_PASSWORD`), at 10,000 notes, against the same commands of
another source tree, interleaved, so a change shows as before and after measured in one run.
Prints a Markdown table for HISTORY.md.

    git archive REVISION | tar -x -C /tmp/before
    python bench/compare_nosession.py --before /tmp/before [--after TREE] [--rounds 7]

Both trees run with this venv's interpreter, PYTHONPATH set to the tree, each on its own copies
of the same sample vault (bench/common.py): one behind the tiny test KDF (everything but the
KDF), one behind the default KDF. Each figure is the median of the rounds; each round runs
every command once for each tree, alternating which goes first. Each run also reports its own
KDF time (Argon2id timed inside the process), so "the default KDF plus at most 100 ms" reads
off the default-KDF rows as wall time less KDF, under the same load as the command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PASSWORD, WORK, sample_path, sample_vault

from vault.notes.vault import Vault
from vault.sealing.crypto import DEFAULT_KDF, TEST_KDF
from vault.sealing.envelope import short

HERE = Path(__file__).resolve().parent.parent
# `vault` as its console script runs it, with Argon2id's own wall time written to a file: the
# command's wall time less its KDF is what the target "the default KDF plus at most 100 ms"
# bounds, measured in the same process under the same load.
# The KDF's time is written as each derivation ends (in whichever thread runs it): a command
# may end its process without the interpreter's teardown (vault.__main__), as a served one does.
RUNNER = """
import os, sys, time
import argon2.low_level as low
kdf, spent = low.hash_secret_raw, [0.0]
def timed(*args, **kwargs):
    start = time.perf_counter()
    try:
        return kdf(*args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - start
        with open(os.environ["BENCH_KDF_FILE"], "w") as out:
            out.write(repr(spent[0]))
low.hash_secret_raw = timed
sys.argv = ["vault", *sys.argv[1:]]
from vault.__main__ import main
try:
    code = main()
finally:
    sys.stdout.flush()
raise SystemExit(code)
"""


def copy_for(src: Path, dest: Path, strong: bool) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    with Vault.unlock(dest, password=PASSWORD) as v:
        if strong:
            v.change_password(PASSWORD, keyfile=None, kdf=DEFAULT_KDF)
    return dest


def one_note(dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    vault, _ = Vault.create(dest, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault:
        vault.create_note("Only note", "a body\n")
    return dest


def env_for(tree: Path, vault_dir: Path, config: Path) -> dict[str, str]:
    # Bytecode is cached as an installed vault's is (a shell may set PYTHONDONTWRITEBYTECODE).
    skip = ("VAULT_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(
        PYTHONPATH=str(tree),
        VAULT_DIR=str(vault_dir),
        VAULT_CONFIG=str(config),
        VAULT_PASSWORD=PASSWORD,
        LC_ALL="C.UTF-8",
    )
    return env


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> tuple[float, float, float]:
    """Wall time, CPU time (user + system, all its threads) and the KDF's wall time of one whole
    command. The CPU time is what a loaded machine distorts least; the wall time is what a
    person waits."""
    with (
        tempfile.TemporaryFile() as fin,
        tempfile.TemporaryFile() as ferr,
        tempfile.NamedTemporaryFile("r") as fkdf,
    ):
        fin.write(stdin.encode())
        fin.seek(0)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, *argv],
            stdin=fin,
            stdout=subprocess.DEVNULL,
            stderr=ferr,
            env={**env, "BENCH_KDF_FILE": fkdf.name},
            cwd="/",
            start_new_session=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            ferr.seek(0)
            raise RuntimeError(f"vault {' '.join(argv)}: {ferr.read().decode()[-500:]}")
        kdf = float(fkdf.read() or 0)
    return took, usage.ru_utime + usage.ru_stime, kdf


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="the old source tree")
    parser.add_argument("--after", type=Path, default=HERE, help="the new one (default: this)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--no-strong", action="store_true", help="skip the default-KDF rows")
    opts = parser.parse_args()
    trees = {"before": opts.before.resolve(), "after": opts.after.resolve()}
    src = sample_vault(sample_path(opts.notes), opts.notes)
    with Vault.unlock(src, password=PASSWORD) as v:
        notes = v.notes(sort="created")
        pick = notes[len(notes) // 2]
        titles = [n.title for n in notes]
        k = next(i for i in range(len(notes) // 2, len(notes)) if titles.count(titles[i]) == 1)
        pick = notes[k]
        notebook = v.notebook_path(pick.notebook)
    word = "belashnegar"
    work = WORK / "nosession"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.toml"
    config.write_text("")
    kinds = [("tiny", False)] + ([] if opts.no_strong else [("default", True)])
    vaults = {
        (name, kdf): copy_for(src, work / f"{name}-{kdf}", strong)
        for name in trees
        for kdf, strong in kinds
    }
    ones = {name: one_note(work / f"{name}-one") for name in trees}
    commands = [
        ("--version", lambda i: (["--version"], ""), False),
        ("ls, one note", lambda i: (["ls"], ""), "one"),
        ("ls", lambda i: (["ls"], ""), True),
        ("search WORD", lambda i: (["search", word], ""), True),
        ("show SHORTID", lambda i: (["show", short(pick.id)], ""), True),
        ("show TITLE", lambda i: (["show", pick.title], ""), True),
        ("new", lambda i: (["new", f"Bench note {i}", "--notebook", notebook], "body\n"), True),
    ]
    times: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {}
    for r in range(opts.rounds + 1):  # round 0 warms up
        order = list(trees) if r % 2 else list(trees)[::-1]
        for label, make, on_vault in commands:
            for kdf, _ in kinds if on_vault is True else kinds[:1]:
                for name in order:
                    path = ones[name] if on_vault == "one" else vaults[(name, kdf)]
                    argv, stdin = make(r)
                    took = run(argv, env_for(trees[name], path, config), stdin)
                    if r:
                        times.setdefault((label, kdf, name), []).append(took)
    print(f"{opts.notes:,} notes, medians of {opts.rounds} interleaved rounds\n")
    print(
        "| command | KDF | wall before | wall after | after ÷ before "
        "| CPU before | CPU after | after ÷ before | its KDF | wall − KDF before | after "
        "| after ÷ before, paired |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, _, on_vault in commands:
        for kdf, _ in kinds if on_vault is True else kinds[:1]:
            cells = []
            for k in (0, 1):
                before = statistics.median(t[k] for t in times[(label, kdf, "before")])
                after = statistics.median(t[k] for t in times[(label, kdf, "after")])
                cells += [
                    f"{before * 1e3:.0f} ms",
                    f"{after * 1e3:.0f} ms",
                    f"{after / before:.2f}×",
                ]
            if kdf == "default":
                runs = {name: times[(label, kdf, name)] for name in trees}
                spent = statistics.median(t[2] for t in runs["after"])
                beyond = [statistics.median(t[0] - t[2] for t in runs[name]) for name in trees]
                cells += [f"{spent * 1e3:.0f} ms"] + [f"{b * 1e3:.0f} ms" for b in beyond]
                # each round's after over the same round's before (run back to back)
                paired = statistics.median(
                    (a[0] - a[2]) / (b[0] - b[2])
                    for a, b in zip(runs["after"], runs["before"], strict=True)
                )
                cells.append(f"{paired:.2f}×")
            else:
                cells += ["", "", "", ""]
            print(f"| `vault {label}` | {kdf} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
