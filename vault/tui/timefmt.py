"""How the app shows times: relative to a clock the app is given, so snapshots do not depend on
when they are taken."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from vault.notes.model import datetime_of

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now().astimezone()


def to_local(ms: int, now: datetime) -> datetime | None:
    """The time `ms` in the clock's zone; None for one no calendar shows (`datetime_of`),
    which is shown as no time at all."""
    return datetime_of(ms, now.tzinfo)


def relative_time(ms: int, now: datetime) -> str:
    """A short age for lists: 'now', '5m', '3h', 'yesterday', 'Tue', '12 Nov', '12 Nov 2024'."""
    when = to_local(ms, now) if ms else None
    if when is None:
        return ""
    seconds = (now - when).total_seconds()
    if seconds < -60:  # another device's clock runs ahead: show the date rather than nonsense
        return absolute_date(when, now)
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if when.date() == now.date():
        return f"{int(seconds // 3600)}h"
    if when.date() == (now - timedelta(days=1)).date():
        return "yesterday"
    if seconds < 6 * 86400:
        return when.strftime("%a")
    return absolute_date(when, now)


def absolute_date(when: datetime, now: datetime) -> str:
    if when.year == now.year:
        return f"{when.day} {when:%b}"
    return f"{when.day} {when:%b %Y}"


def long_time(ms: int, now: datetime) -> str:
    """A full date and time for details, such as the editor's title bar."""
    when = to_local(ms, now) if ms else None
    if when is None:
        return ""
    return f"{when.day} {when:%b %Y, %H:%M}"
