"""Run every benchmark and write bench/RESULTS.md.

Each `bench/bench_*.py` is a script that prints one Markdown section: absolute figures and,
for each, the ratio to a floor measured in the same run on the same machine (the machine is
shared and noisy, so ratios say more than seconds). Each runs in its own process so memory
figures do not bleed into each other. bench/HISTORY.md (before-and-after figures of fixes the
benchmarks led to) is appended as it is, so regenerating never loses it.

    python bench/run.py                  # all of them, written to bench/RESULTS.md
    python bench/run.py core sync        # some of them, printed only
    python bench/run.py --smoke          # all of them at a tiny size, printed only
    python bench/run.py --smoke --out F  # ... and written to F

Every bench is started with VAULT_BENCH_SMOKE=1 in smoke mode (a tiny vault, one run per
timing); VAULT_BENCH_SIZES=1000,10000 picks the note counts of the scaling benchmarks.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="run the benchmarks")
    parser.add_argument("names", nargs="*", help="core, sync, ... (default: every bench_*.py)")
    parser.add_argument("--smoke", action="store_true", help="tiny size; RESULTS.md untouched")
    parser.add_argument("--out", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    names = args.names or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    env = dict(os.environ)
    # Commands run from bytecode, as after `pip install` (which compiles it): with
    # PYTHONDONTWRITEBYTECODE set (some machines set it), every `vault` subprocess would
    # compile the package from source first, about 100 ms that no installed copy pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(HERE.parent / "vault")],
        env=env,
        check=False,
        capture_output=True,
    )
    if args.smoke:
        env["VAULT_BENCH_SMOKE"] = "1"
    else:
        env.pop("VAULT_BENCH_SMOKE", None)
    sections = []
    failed = []
    for name in names:
        script = HERE / f"bench_{name}.py"
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            cwd=HERE.parent,
            env=env,
        )
        took = time.perf_counter() - start
        if result.returncode != 0:
            failed.append(name)
            sections.append(
                f"## {name}\n\nFAILED (exit {result.returncode}):\n\n```\n"
                f"{result.stderr[-3000:]}\n```\n"
            )
        else:
            sections.append(
                result.stdout.strip() + f"\n\n_(bench_{name}.py ran in {took:.0f} s)_\n"
            )
    mode = " **Smoke run** (tiny sizes, one run per timing): the figures mean nothing." * (
        args.smoke
    )
    header = (
        "# Benchmark results\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. The machine is shared, so absolute times "
        "vary between runs; each figure comes with its ratio to a floor measured in the same "
        f"run. Regenerate with `python bench/run.py`.{mode}\n"
    )
    history = HERE / "HISTORY.md"
    if history.exists():
        sections.append(history.read_text().strip() + "\n")
    text = header + "\n" + "\n".join(sections)
    if not args.names and not args.smoke:
        (HERE / "RESULTS.md").write_text(text)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
