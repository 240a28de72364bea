"""A note whose times no calendar can show (before year 1 or after 9999: written by another
program, a future version or a device with a broken clock) is listed, shown, searched and
exported like any other, its times shown as none. One such note used to make `vault ls`,
`vault search` and `vault ls --json` stop with an internal error, and the app with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import CLI
from vault.cli.common import fmt_time, iso_time
from vault.interchange.markdown_io import note_front_matter
from vault.notes.model import Note
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF
from vault.tui.screens.conflicts import edited_at
from vault.tui.timefmt import long_time, relative_time

# Around the edges of what datetime can hold, and far beyond them, both ways.
EXTREMES = [
    -(2**63),
    -(2**60),
    -62135596800001,  # a millisecond before year 1
    -62135596800000,
    253402300799999,  # the last millisecond of 9999
    253402300800000,
    2**60,
    2**63 - 1,
]
_TIMES = st.one_of(
    st.sampled_from(EXTREMES), st.integers(min_value=-(2**70), max_value=2**70), st.just(0)
)


@given(_TIMES)
def test_every_time_formats_to_text_or_none(ms: int) -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert isinstance(fmt_time(ms), str)
    assert iso_time(ms) is None or isinstance(iso_time(ms), str)
    assert isinstance(relative_time(ms, now), str)
    assert isinstance(long_time(ms, now), str)
    assert isinstance(edited_at(ms, now), str)
    meta = note_front_matter(Note(id="a" * 32, title="t", created=ms, modified=ms))
    assert set(meta) <= {"title", "created", "modified"}


@pytest.fixture
def far(tmp_path: Path, cli: CLI) -> CLI:
    vault, _ = Vault.create(cli.vault_dir, "pw", kdf=TEST_KDF, allow_weak_kdf=True)
    with vault:
        for n, ms in enumerate(EXTREMES):
            vault.import_note(f"Odd time {n}", f"body {n}\n", created=ms, modified=ms)
        vault.create_note("Today's", "body now\n")
    cli.password = "pw"
    return cli


def test_the_command_line_lists_shows_searches_and_exports_them(far: CLI, tmp_path: Path) -> None:
    cli = far
    for args in (["ls"], ["ls", "--sort", "created"], ["search", "body"], ["show", "Odd time 0"]):
        done = cli(*args)
        assert done.returncode == 0 and "internal error" not in done.stderr, (args, done.stderr)
        assert "Odd time" in done.stdout
    listed = json.loads(cli("ls", "--json", check=True).stdout)
    assert len(listed) == len(EXTREMES) + 1
    odd = [n for n in listed if n["title"].startswith("Odd time")]
    # Those that a calendar shows keep their times; the others have none.
    assert any(n["modified"] is None for n in odd) and any(n["modified"] for n in odd)
    assert all(n["modified"] for n in listed if n["title"] == "Today's")
    out = tmp_path / "out"
    cli("export", "markdown", str(out), "--yes", check=True)
    assert len(list(out.glob("*.md"))) == len(EXTREMES) + 1
