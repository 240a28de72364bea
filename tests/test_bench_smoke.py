"""The benchmarks still run: `python bench/run.py --smoke` (every bench at a tiny size, one run
per timing). Not a timed test: nothing here judges a figure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


@pytest.mark.timeout(240)
def test_every_benchmark_runs_at_the_smoke_size(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    results = BENCH / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    out = tmp_path / "smoke.md"
    env = dict(os.environ)
    # A short folder of its own: tmp_path can be too long for the Unix sockets that tools
    # under test make in there (gpg-agent's, for the pass peer; the limit is 107 bytes).
    work = Path(tempfile.mkdtemp(prefix="vb-"))
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
    env["VAULT_BENCH_WORK"] = str(work)
    env.pop("VAULT_BENCH_SIZES", None)
    env.pop("VAULT_BENCH_SMOKE", None)  # run.py sets it for each bench
    run = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
    )
    text = out.read_text()
    failed = [part[:3000] for part in text.split("\n## ") if "FAILED (exit" in part]
    assert run.returncode == 0 and not failed, (
        "\n".join(failed) or text[-4000:] + run.stderr[-2000:]
    )
    assert "Smoke run" in text
    for script in sorted(BENCH.glob("bench_*.py")):
        assert f"_({script.name} ran in" in text, f"no section from {script.name}"
    assert "## Core (200 notes" in text
    assert "### Targets at 200 notes" in text
    # a smoke run never replaces the real results
    assert (results.read_bytes() if results.exists() else None) == before
