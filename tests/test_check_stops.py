"""`Vault.check` reports its progress every 256 versions and before each attached file, and a
progress callback that raises stops it there: the app's lock no longer waits for a whole check
of a large vault, nor for its attached files (found by a review: the files' part did not stop)."""

from __future__ import annotations

from pathlib import Path

import pytest


class Stop(Exception):
    pass


def test_a_check_reports_progress_and_stops_when_asked(make_vault) -> None:
    vault, _ = make_vault()
    for i in range(600):
        vault.create_note(f"Note {i}", "body")
    seen: list[tuple[int, int | None]] = []
    report = vault.check(lambda done, total: seen.append((done, total)))
    total = vault.store.counts()["versions"]
    assert [done for done, _ in seen] == [*range(0, total, 256), total]  # and at the end
    assert {t for _, t in seen} == {total}
    assert report.ok and report.versions >= 600

    calls = 0

    def stop_at_the_second(done: int, total: int | None) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Stop

    with pytest.raises(Stop):
        vault.check(stop_at_the_second)
    assert calls == 2


def test_a_check_stops_among_the_attached_files_too(make_vault, tmp_path: Path) -> None:
    vault, _ = make_vault()
    note = vault.create_note("Receipts", "body")
    for i in range(3):
        path = tmp_path / f"receipt-{i}.pdf"
        path.write_bytes(b"%PDF receipt " * (1000 + i))
        vault.attach(note.id, path)
    versions = vault.store.counts()["versions"]
    seen: list[tuple[int, int | None]] = []
    report = vault.check(lambda done, total: seen.append((done, total)))
    assert report.blobs == 3
    assert seen[-3:] == [(versions + i, versions + 3) for i in range(3)]

    def stop_at_the_second_file(done: int, total: int | None) -> None:
        if done == versions + 1:
            raise Stop

    with pytest.raises(Stop):
        vault.check(stop_at_the_second_file)
