"""The sync panel: where this vault syncs to, how the last run went, what waits, and the ways
on (sync now, choose the folder, conflicts). Also the dialog that chooses the folder, so the
app alone can set sync up (`vault remote set` does the same on the command line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from vault.sync import RemoteInfo, SyncReport, remote_info
from vault.tui.failures import ReportsWorkerErrors
from vault.tui.safetext import escaped as escape  # and control characters shown
from vault.tui.screens.dialogs import Dialog, InputDialog, Refused
from vault.tui.screens.entry import display_path
from vault.tui.session import Session
from vault.tui.sync_status import ago
from vault.tui.timefmt import Clock
from vault.wording import plural


@dataclass
class RemoteRead(Message):
    info: RemoteInfo


def label(name: str) -> str:
    """A bold label padded to one width (the padding inside it, so values line up)."""
    return f"[b]{name:<11}[/]"


def panel_text(
    info: RemoteInfo,
    now_clock: Clock,
    *,
    auto: bool,
    interval: float,
    debounce: float,
    report: SyncReport | None,
) -> str:
    """The panel's lines, as Textual markup (paths escaped; no note text anywhere)."""
    status = info.status
    lines: list[str] = []
    if info.path is None:
        lines.append("This vault does not sync yet.")
        lines.append(
            "[$text-muted]Choose a folder your sync app shares (Syncthing, Dropbox, a network "
            "drive): everything written there is encrypted and padded.[/]"
        )
    else:
        source = "set for this vault" if info.source == "vault" else "from the config (sync.remote)"
        where = escape(display_path(info.path))
        lines.append(f"{label('Folder')}{where}  [$text-muted]({source})[/]")
        if info.problem:
            lines.append(f"{label('')}[$error]{escape(info.problem)}[/]")
        else:
            devices = "no other device yet" if info.devices <= 1 else plural(info.devices, "device")
            lines.append(
                f"{label('')}[$text-muted]reachable · {devices} · {plural(info.files, 'file')}[/]"
            )
    if status.remote is not None:
        if status.last_error:
            lines.append(f"{label('Last run')}[$error]failed: {escape(status.last_error)}[/]")
        if status.last_sync:
            lines.append(f"{label('Last sync')}{ago(status.last_sync, now_clock())}")
        elif not status.last_error:
            lines.append(f"{label('Last sync')}never")
        if report is not None:
            for line in report.lines():
                lines.append(f"{label('')}[$text-muted]{escape(line)}[/]")
        lines.append(
            f"{label('To send')}{status.unpushed:,} change{'s' if status.unpushed != 1 else ''}"
        )
        if status.pending:
            lines.append(
                f"{label('Arriving')}{plural(status.pending, 'file')} from other devices: "
                "incomplete or delayed; the next sync tries again"
            )
        if status.rollbacks:
            lines.append(
                f"{label('Rollback')}[$error]{plural(status.rollbacks, 'device log')} went back "
                "in time (an old copy restored?); your notes here were not rolled back[/]"
            )
        if auto:
            every = f"every {interval:g} s, " if interval > 0 else ""
            lines.append(
                f"{label('Automatic')}{every}{debounce:g} s after changes, and on opening "
                "[$text-muted](sync.auto)[/]"
            )
        else:
            lines.append(f"{label('Automatic')}off: f9 syncs [$text-muted](sync.auto)[/]")
    if status.conflicts:
        lines.append(
            f"{label('Conflicts')}[$warning]{status.conflicts} waiting for you[/]: f8 compares them"
        )
    return "\n".join(lines)


class SyncPanel(ReportsWorkerErrors, Dialog[str | None]):
    """Dismissed with what to do next: "sync", "folder", "stop", "conflicts", or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close"),
        Binding("f9", "choose('sync')", "Sync now", show=False),
    ]

    def __init__(
        self,
        session: Session,
        config_remote: str,
        *,
        clock: Clock,
        auto: bool,
        interval: float,
        debounce: float,
        report: SyncReport | None,
    ) -> None:
        super().__init__()
        self.session = session
        self.config_remote = config_remote
        self.clock = clock
        self.options = {"auto": auto, "interval": interval, "debounce": debounce, "report": report}

    def compose(self) -> ComposeResult:
        with Vertical(classes="card", id="sync-card"):
            yield Label("Sync", classes="dialog-title")
            yield Static("Looking at the folder…", id="sync-details", classes="dialog-text")
            yield Static("escape closes", classes="dialog-hint")
            with Horizontal(classes="buttons"):
                yield Button("Stop syncing", id="stop")
                yield Button("Conflicts", id="conflicts")
                yield Button("Set folder…", id="folder")
                yield Button("Sync now", id="sync", variant="primary")

    def on_mount(self) -> None:
        for button in ("#stop", "#conflicts", "#sync"):
            self.query_one(button).display = False
        self.query_one("#folder", Button).focus()
        self.read()

    @work(thread=True, exclusive=True, group="remote-info", exit_on_error=False)
    def read(self) -> None:
        self.post_message(RemoteRead(remote_info(self.session.vault.store, self.config_remote)))

    def on_remote_read(self, message: RemoteRead) -> None:
        info = message.info
        self.query_one("#sync-details", Static).update(
            panel_text(info, self.clock, **self.options)  # type: ignore[arg-type]
        )
        self.query_one("#sync").display = info.path is not None
        self.query_one("#stop").display = info.source == "vault"
        self.query_one("#conflicts").display = bool(info.status.conflicts)
        folder = self.query_one("#folder", Button)
        folder.label = "Change folder…" if info.path is not None else "Set folder…"
        if info.path is not None:
            self.query_one("#sync", Button).focus()

    def action_choose(self, what: str) -> None:
        self.dismiss(what)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)


class SyncFolderDialog(InputDialog[str | None]):
    """The folder to sync through: typed as a path."""

    def __init__(self, current: str, error: str = "") -> None:
        super().__init__()
        self._current = current
        self._error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("Set sync folder", classes="dialog-title")
            yield Static(
                "An empty folder that your sync app shares between your machines, or the "
                "folder this vault already syncs to on another machine. Only encrypted, padded "
                "files go there. On a new machine, `vault clone FOLDER` joins it.",
                classes="dialog-text",
                markup=False,
            )
            yield Input(self._current, placeholder="~/Sync/vault", id="value")
            yield Static(self._error, classes="dialog-hint error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Sync here", id="ok", variant="primary")

    def accept(self, text: str) -> str:
        value = text.strip()
        if not value:
            raise Refused("Type the folder's path.")
        return value
