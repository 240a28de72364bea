"""How the app words sync: the footer's one line, and the summary of a run.

Plain Python (no widgets), so the tests check the words without running the app. The footer
line must fit beside the vault's path at 80 columns, so it says only what a person acts on:
when the last sync was, what waits to be sent, what is still arriving, conflicts, and errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vault.sync import SyncReport, SyncStatus
from vault.tui.safetext import escaped as escape  # and control characters shown

ERROR_ROOM = 44  # characters of an error in the footer; the sync panel shows all of it


@dataclass(frozen=True)
class Running:
    """A sync under way: which phase, and how far (total 0: not counted yet)."""

    phase: str = "syncing"
    done: int = 0
    total: int = 0


def ago(ms: int, now: datetime) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', '4 days ago'."""
    seconds = now.timestamp() - ms / 1000
    if seconds < 60:  # a clock a little ahead on this machine reads as "just now", too
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h ago"
    days = hours // 24
    return "yesterday" if days == 1 else f"{days} days ago"


def shorten(text: str, room: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= room else line[: room - 1].rstrip() + "…"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def status_line(status: SyncStatus | None, now: datetime, running: Running | None = None) -> str:
    """The footer's sync segment, as Textual markup (note text never appears here)."""
    if status is None:
        return ""
    conflicts = f"[$warning]{_plural(status.conflicts, 'conflict')}[/]" if status.conflicts else ""
    if status.remote is None:
        return " · ".join(p for p in ("[$text-muted]not syncing[/]", conflicts) if p)
    parts: list[str] = []
    if status.rollbacks:
        parts.append("[$error]⚠ rollback[/]")
    if running is not None:
        counted = f" {running.done}/{running.total}" if running.total else ""
        parts.append(f"[$accent]{running.phase}…{counted}[/]")
    elif status.last_error:
        # The folder's path is in the tooltip and the sync panel; here it would push out
        # what went wrong.
        error = status.last_error.replace(f" {status.remote}", "")
        parts.append(f"[$error]sync error:[/] {escape(shorten(error, ERROR_ROOM))}")
    elif status.last_sync:
        parts.append(f"synced {ago(status.last_sync, now)}")
    else:
        parts.append("never synced")
    if status.unpushed and running is None:
        parts.append(f"{status.unpushed:,} pending")
    if status.pending:
        parts.append(f"{status.pending} arriving")
    if conflicts:
        parts.append(conflicts)
    return " · ".join(parts)


def report_summary(report: SyncReport) -> str:
    """One short sentence after a sync someone asked for: what came in and went out."""
    if not report.pulled and not report.pushed:
        text = "Up to date"
    else:
        text = f"Received {_plural(report.pulled, 'change')}, sent {report.pushed}"
    if report.merged:
        text += f"; merged {_plural(len(report.merged), 'note')} edited on two devices"
    return text + "."


def report_problems(report: SyncReport) -> list[tuple[str, str]]:
    """(severity, text) for what a person should know after a run, worst first."""
    out: list[tuple[str, str]] = []
    for line in report.rollbacks:
        out.append(("error", f"The sync folder went back in time: {line}."))
    for line in report.warnings:
        out.append(("warning", line[0].upper() + line[1:] + "."))
    for line in report.notices:  # e.g. a master key rotation this device followed
        out.append(("information", line))
    if report.conflicts:
        n = len(report.conflicts)
        verb = "was" if n == 1 else "were"
        out.append(
            (
                "warning",
                f"{_plural(n, 'item')} {verb} changed on two devices in ways that do not merge; "
                "both versions are kept. f8 compares them.",
            )
        )
    return out
