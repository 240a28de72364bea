"""Memory of the app's data path at 100,000 notes, stage by stage, in process.

Without the screen: what the app asks of the domain, in its order (vault/tui/screens/unlock.py,
main.py, data.py): the store read ahead while the password is typed (`ReadAhead`), the unlock
(`Vault.unlock(bodies="later", read_ahead=...)`), the rest of the listing, the list's notes
(`NoteSource.base`), every body (`NoteSource.warm`), the search's folds (`NoteSource.fold`),
the link index (the app builds it next), the bench_tmux words typed letter by letter
(`NoteSource.notes`), then the next notes opened (`Vault.whole`) and the list's rows drawn
(a body per row). After each stage: the process's resident memory (VmRSS) and its peak
(VmHWM), in MiB, and the stage's time.

    python bench/memory_stages.py [--size N] [--before PATH] [--rounds R] [--seal]

`--seal`: locking seals a snapshot (as when enough changed since the last one): with the
bodies let go, each is read from its envelope again, a slice at a time. It writes the sample
vault's snapshot anew (the same notes): use a private `VAULT_BENCH_WORK`.

`--before PATH`: another checkout of the project (put first on PYTHONPATH) runs the same
stages in its own process, in turn with this one, round by round (the first of the two
alternating), so both see the same load. Each run is a fresh process (a peak is per process).
The sample vault is bench/common.py's (`VAULT_BENCH_WORK`); it is only read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TYPED = ["ragarq", "tinvi mor", "polmorgar"]  # as bench_tmux.py
NEXT_NOTES = 8
ROWS = 20  # the list's rows on screen at 120x40
SEAL = os.environ.get("VAULT_BENCH_SEAL") == "1"  # (set by --seal for the child)


def vm_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def stages(size: int) -> list[dict[str, object]]:
    """Run in the child process: the stages, each with RSS and peak after it."""
    sys.path.insert(0, str(HERE))
    from common import PASSWORD, sample_path

    out: list[dict[str, object]] = []
    start = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal start
        took = time.perf_counter() - start
        out.append({"stage": name, "rss": vm_mib("VmRSS"), "hwm": vm_mib("VmHWM"), "s": took})
        start = time.perf_counter()

    from vault.notes.links import link_index
    from vault.notes.search import parse_query
    from vault.notes.unlocking import ReadAhead
    from vault.notes.vault import Vault
    from vault.tui.data import ALL, NoteSource
    from vault.tui.memory import fewer_heaps, hold_still

    fewer_heaps()  # as the app does before its threads start
    stage("imports")
    path = sample_path(size)
    read = ReadAhead(path)
    stage("read-ahead")
    vault = Vault.unlock(path, password=PASSWORD, bodies="later", read_ahead=read)
    read.close()
    del read
    stage("unlock (first screen)")
    vault.finish_listing()
    source = NoteSource(vault)
    base = source.notes(ALL, "modified", parse_query(""))
    stage("the whole list")
    source.warm()
    hold_still()
    stage("every body read")
    source.fold()
    stage("search folds")
    link_index(vault).refresh()
    stage("link index")
    keys = []
    for word in TYPED:
        for i in range(len(word)):
            began = time.perf_counter()
            source.notes(ALL, "modified", parse_query(word[: i + 1]))
            keys.append(time.perf_counter() - began)
    stage("24 keystrokes")
    base = source.notes(ALL, "modified", parse_query(""))
    opened = []
    for note in base[1 : NEXT_NOTES + 1]:
        began = time.perf_counter()
        vault.whole(note)
        opened.append(time.perf_counter() - began)
    rows = []
    for note in base[200 : 200 + ROWS]:  # rows never drawn yet: each body read
        began = time.perf_counter()
        vault.whole(note)
        rows.append(time.perf_counter() - began)
    stage("next notes, rows drawn")
    if SEAL:
        vault._unsnapped = 10**9  # a snapshot due at lock: every body sealed again
    vault.lock()
    stage("lock" + (", a snapshot sealed" if SEAL else ""))
    out.append(
        {
            "keys": keys,
            "opened": opened,
            "rows": rows,
            "notes": len(base),
        }
    )
    return out


def run(size: int, code: str | None, seal: bool) -> list[dict[str, object]]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["VAULT_BENCH_SEAL"] = "1" if seal else "0"
    if code is not None:
        env["PYTHONPATH"] = code
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(size)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--before", default=None)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seal", action="store_true", help="seal a snapshot at lock")
    parser.add_argument("--child", type=int, default=None)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(stages(args.child)))
        return 0
    sys.path.insert(0, str(HERE))
    from common import sample_path, sample_vault

    sample_vault(sample_path(args.size), args.size)
    runs: dict[str, list[list[dict[str, object]]]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        order: list[str | None] = [None]
        if args.before is not None:
            order = [args.before, None] if round_ % 2 == 0 else [None, args.before]
        for code in order:
            runs["before" if code else "after"].append(run(args.size, code, args.seal))
    print(f"## Memory by stage, {args.size:,} notes, {args.rounds} round(s)\n")
    names = [s["stage"] for s in runs["after"][0] if "stage" in s]
    sides = [k for k in ("before", "after") if runs[k]]
    head = " | ".join(f"{k}: RSS, peak MiB | {k}: s" for k in sides)
    print(f"| stage | {head} |\n|---|" + "---:|" * (2 * len(sides)))
    for k, name in enumerate(names):
        cells = []
        for side in sides:
            got = [r[k] for r in runs[side]]
            rss = "/".join(f"{g['rss']:.0f}" for g in got)
            hwm = "/".join(f"{g['hwm']:.0f}" for g in got)
            secs = "/".join(f"{g['s']:.2f}" for g in got)
            cells.append(f"{rss} ({hwm}) | {secs}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for side in sides:
        tails = [r[-1] for r in runs[side]]
        for what in ("keys", "opened", "rows"):
            values = [v for t in tails for v in t[what]]  # type: ignore[attr-defined]
            print(
                f"{side}: {what} median {statistics.median(values) * 1000:.2f} ms, "
                f"worst {max(values) * 1000:.2f} ms ({len(values)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
