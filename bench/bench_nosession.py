"""The path without a session (issue 15): the real `vault` command, password on every command
(`VAULT_PASSWORD`), at 10,000 notes, against the same commands of another source tree run side
by side (interleaved), so a change shows as before and after measured in one run.

    python bench/bench_nosession.py --before /path/to/old/checkout [--rounds 7]

Both trees run as `python -m vault` with the same interpreter (this venv's), PYTHONPATH set
to the tree, on their own copies of the same sample vault (bench/common.py): one behind the tiny
test KDF (everything but the KDF), one behind the default KDF. The figure per command is the
median of the rounds; each round runs every command once for each tree, alternating which goes
first. The KDF alone (default Argon2id, in a fresh process, fastest of 3) is printed too, so
"the default KDF plus at most 100 ms" can be read off the default-KDF rows.
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
# The default KDF once, timed inside a fresh process: run in every round, so "the default KDF
# plus at most 100 ms" compares medians taken under the same load.
KDF_PROBE = (
    "import time\nfrom vault.sealing.crypto import DEFAULT_KDF, argon2id\n"
    "t = time.perf_counter()\nargon2id(b'x', bytes(16), DEFAULT_KDF)\n"
    "print(time.perf_counter() - t)\n"
)


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


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> tuple[float, float]:
    """Wall time and CPU time (user + system, all its threads) of one whole command. The CPU
    time is what a loaded machine distorts least; the wall time is what a person waits."""
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as ferr:
        fin.write(stdin.encode())
        fin.seek(0)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "vault", *argv],
            stdin=fin,
            stdout=subprocess.DEVNULL,
            stderr=ferr,
            env=env,
            cwd="/",
            start_new_session=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            ferr.seek(0)
            raise RuntimeError(f"vault {' '.join(argv)}: {ferr.read().decode()[-500:]}")
    return took, usage.ru_utime + usage.ru_stime


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
    times: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    probe = [sys.executable, "-c", KDF_PROBE]
    kdf_times: list[float] = []
    for r in range(opts.rounds + 1):  # round 0 warms up
        order = list(trees) if r % 2 else list(trees)[::-1]
        if r and not opts.no_strong:
            out = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
            kdf_times.append(float(out))
        for label, make, on_vault in commands:
            for kdf, _ in kinds if on_vault is True else kinds[:1]:
                for name in order:
                    path = ones[name] if on_vault == "one" else vaults[(name, kdf)]
                    argv, stdin = make(r)
                    took = run(argv, env_for(trees[name], path, config), stdin)
                    if r:
                        times.setdefault((label, kdf, name), []).append(took)
    kdf_alone = statistics.median(kdf_times) if kdf_times else float("nan")
    print(f"The default KDF alone (Argon2id, in a fresh process, median): {kdf_alone * 1e3:.0f} ms")
    print(f"{opts.notes:,} notes, medians of {opts.rounds} interleaved rounds\n")
    print(
        "| command | KDF | wall before | wall after | after ÷ before "
        "| CPU before | CPU after | after ÷ before | wall after − the KDF alone |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
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
                if k == 0:
                    over = f"{(after - kdf_alone) * 1e3:.0f} ms" if kdf == "default" else ""
            print(f"| `vault {label}` | {kdf} | " + " | ".join(cells) + f" | {over} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
