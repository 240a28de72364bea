"""`Vault.check` reports its progress every 256 versions, and a progress callback that raises
stops it there: the app's lock no longer waits for a whole check of a large vault."""

from __future__ import annotations

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
    assert [done for done, _ in seen] == list(range(0, total, 256))
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
