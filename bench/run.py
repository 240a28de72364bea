"""Run every benchmark and write bench/RESULTS.md.

Each `bench/bench_*.py` is a script that prints one Markdown section: absolute figures and,
for each, the ratio to a floor measured in the same run on the same machine (the machine is
shared and noisy, so ratios say more than seconds). Each runs in its own process so memory
figures do not bleed into each other.

    python bench/run.py            # all of them
    python bench/run.py core sync  # some of them
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    sections = []
    failed = []
    for name in names:
        script = HERE / f"bench_{name}.py"
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent
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
    header = (
        "# Benchmark results\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. The machine is shared, so absolute times "
        "vary between runs; each figure comes with its ratio to a floor measured in the same "
        "run. Regenerate with `python bench/run.py`.\n"
    )
    text = header + "\n" + "\n".join(sections)
    if not argv:
        (HERE / "RESULTS.md").write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
