"""Importing a folder of Markdown files, and checking the vault, in the app: what `vault import
markdown` and `vault check` do on the command line, run in workers (SyncAndBackup), with their
findings shown as lines of text (file names and titles come from outside: never markup)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Checkbox, Input, Label, Static

from vault.errors import NotFoundError, VaultError
from vault.interchange.markdown_io import ImportReport, import_markdown
from vault.notes.filing import clean_name
from vault.notes.integrity import CheckReport
from vault.paths import expanded
from vault.textsafe import visible
from vault.tui.safetext import content
from vault.tui.screens.backups import Progress
from vault.tui.screens.dialogs import Dialog, InputDialog, Refused
from vault.tui.screens.entry import display_path
from vault.tui.session import Session
from vault.wording import agree, plural


def import_notes(
    session: Session,
    folder: Path,
    *,
    inline_tags: bool = False,
    notebook: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Every Markdown file under `folder` as a note (in a worker). Locking stops it at its
    next progress report (every 50 files); the batches written by then stay, and importing
    again brings in the rest."""
    with session.task() as check:

        def step(done: int, total: int | None) -> None:
            check()
            if progress is not None:
                progress(done, total)

        return import_markdown(
            session.vault, folder, notebook=notebook, with_inline_tags=inline_tags, progress=step
        )


def run_check(
    session: Session, progress: Progress | None = None
) -> tuple[CheckReport, dict[str, str]]:
    """`vault check` (in a worker): every version of every item opened, every attached file
    here checked whole; and the titles of the damaged notes that still open, by id, so the
    person knows which they are. Locking stops it at its next progress report (every 256
    versions): nothing is written by a check, so nothing is left half done."""
    with session.task() as check:

        def step(done: int, total: int | None) -> None:
            check()
            if progress is not None:
                progress(done, total)

        report = session.vault.check(step)
        titles: dict[str, str] = {}
        for item_id in report.corrupt:
            try:
                titles[item_id] = session.vault.note(item_id).title
            except VaultError:
                continue  # not a note, or its newest version does not open either
        return report, titles


@dataclass(frozen=True)
class BroughtBack:
    titles: list[str]  # the notes whose newest version that opens is now their newest again
    left: dict[str, str]  # item id -> why it was not brought back (one line)


def bring_back_damaged(session: Session) -> BroughtBack:
    """In a worker: each note whose newest version does not open gets its newest version that
    does written on top (as `vault revert ID VERSION` with that version), so it is back in the
    list and its History offers the older ones. A note written by a newer vault, or with no
    version that opens, is left, with the reason."""
    titles: list[str] = []
    left: dict[str, str] = {}
    with session.task() as check:
        vault = session.vault
        for item_id in vault.damaged_notes():
            check()
            try:
                at = vault.damaged_note(item_id)
                vault.write_over_damaged(at, at)
            except NotFoundError:
                continue  # brought back meanwhile (a sync)
            except VaultError as exc:
                left[item_id] = str(exc)
                continue
            titles.append(at.title)
    return BroughtBack(titles, left)


def brought_back_text(result: BroughtBack) -> str:
    if not result.titles and not result.left:
        return "No note needed bringing back."
    text = ""
    if result.titles:
        n = len(result.titles)
        named = ", ".join(f"“{t}”" for t in result.titles[:3])
        more = f" and {n - 3:,} more" if n > 3 else ""
        text = (
            f"Brought back {plural(n, 'note')} ({named}{more}) at "
            f"{agree(n, 'its', 'their')} newest version that opens; History (f6) offers the "
            "older ones."
        )
    if result.left:
        why = "; ".join(sorted(result.left.values())[:3])
        text += f" {plural(len(result.left), 'note')} could not be: {why}."
    return text.strip()


BRING_BACK_WARNING = (
    "Each note whose newest version does not open here gets its newest version that does "
    "written on top, as a new version. It goes to your other devices with the next sync: one "
    "that holds the damaged version whole then shows the older text too (the newer stays in "
    "its History). To keep the newer text, take it from that device or a backup instead."
)


def acknowledge_incident(session: Session) -> None:
    """The altered history was shown: later openings stop repeating it (as `vault check`)."""
    with session.task():
        session.vault.acknowledge_history_incident()


# Lines of an import's or a check's findings shown in the app; `vault import markdown` and
# `vault check` list every one.
FINDINGS_SHOWN = 100


@dataclass(frozen=True)
class ImportChoice:
    folder: Path
    inline_tags: bool = False
    notebook: str | None = None  # "A/B": everything goes under it (made if missing)


class ImportDialog(InputDialog[ImportChoice | None]):
    """The folder of Markdown files to import, and optionally the notebook to put everything
    under (as `vault import markdown --notebook`; the notebook shown in the sidebar is
    offered). A folder that does not exist, is not a folder or cannot be read, or a notebook
    path with an empty part, is refused here, in one line."""

    def __init__(self, notebook: str = "") -> None:
        super().__init__()
        self._notebook = notebook

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("Import Markdown", classes="dialog-title")
            yield Static(
                "Each .md file becomes a note (title, tags, dates from its front matter), "
                "subfolders notebooks, linked files attachments. The folder is only read; "
                "notes already here are skipped.",
                classes="dialog-text",
                markup=False,
            )
            yield Input(
                placeholder="a folder of .md files, such as an Obsidian vault",
                id="value",
            )
            yield Input(
                self._notebook,
                placeholder="into notebook (optional): Imported/Obsidian",
                id="notebook",
            )
            yield Checkbox("#words in the text become tags too", id="inline-tags")
            yield Static("", classes="dialog-hint error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Import", id="ok", variant="primary")

    def accept(self, text: str) -> ImportChoice:
        if not text.strip():
            raise Refused("Type the folder to import from.")
        try:
            folder = expanded(text.strip()).absolute()
        except VaultError as exc:
            raise Refused(str(exc)) from None
        shown = visible(display_path(folder))
        try:
            if not folder.exists():
                raise Refused(f"{shown} does not exist.")
            if not folder.is_dir():
                raise Refused(f"{shown} is a file, not a folder.")
            os.scandir(folder).close()
        except OSError as exc:
            raise Refused(f"Cannot read {shown}: {exc.strerror or exc}.") from None
        notebook = self._notebook_path()
        return ImportChoice(folder, self.query_one("#inline-tags", Checkbox).value, notebook)

    def _notebook_path(self) -> str | None:
        typed = self.query_one("#notebook", Input).value.strip().strip("/")
        if not typed:
            return None
        try:
            return "/".join(clean_name(part, "notebook") for part in typed.split("/"))
        except VaultError:
            raise Refused("Each part of the notebook path needs a name (Work/Projects).") from None

    @on(Input.Submitted, "#notebook")
    def _notebook_submitted(self) -> None:
        self._submit()


def imported_text(report: ImportReport) -> str:
    """What an import did, for a notification (its `skipped` files are listed apart)."""
    where = display_path(report.folder)
    if not (report.imported or report.unchanged or report.skipped):
        return f"No Markdown files in {where}: nothing was imported."
    what = [plural(report.imported, "note")]
    if report.notebooks_created:
        what.append(plural(report.notebooks_created, "new notebook"))
    if report.attachments:
        what.append(plural(report.attachments, "attachment"))
    listed = what[0] if len(what) == 1 else f"{', '.join(what[:-1])} and {what[-1]}"
    text = f"Imported {listed} from {where}."
    if report.unchanged:
        n = report.unchanged
        text += f" {plural(n, 'note')} already in the vault {agree(n, 'was', 'were')} skipped."
    if report.other_files:
        n = report.other_files
        text += (
            f" {plural(n, 'other file')} (not Markdown, and no note links to "
            f"{agree(n, 'it', 'them')}) {agree(n, 'was', 'were')} left alone."
        )
    if report.front_matter_kept:
        n = len(report.front_matter_kept)
        text += (
            f" {plural(n, 'note')} kept {agree(n, 'its', 'their')} front matter as text (it "
            "could not be read)."
        )
    if report.skipped:
        n = len(report.skipped)
        text += f" {plural(n, 'file')} could not be imported:"
    return text


def import_findings(report: ImportReport) -> tuple[str, ...]:
    lines = [f"{path}: {why}" for path, why in sorted(report.skipped.items())]
    lines += [
        f"{path}: front matter kept as text ({why}); its title, tags and dates were not read"
        for path, why in sorted(report.front_matter_kept.items())
    ]
    return capped(lines, "`vault import markdown` lists them all")


def capped(lines: list[str], where_all: str) -> tuple[str, ...]:
    if len(lines) <= FINDINGS_SHOWN:
        return tuple(lines)
    more = len(lines) - FINDINGS_SHOWN
    return (*lines[:FINDINGS_SHOWN], f"… and {more:,} more ({where_all}).")


class FindingsDialog(Dialog[bool]):
    """What a job found that does not fit a notification (a check's damage, the files an
    import left out): a summary, one line per finding, and what to do. Findings often quote
    a file or attachment name, so each is shown as one line of text, never markup. Closed
    with its button it answers True (read: an altered history is then acknowledged), with
    escape None."""

    DEFAULT_CSS = """
    FindingsDialog #findings {
        height: auto;
        max-height: 14;
        margin-bottom: 1;
    }
    """

    def __init__(
        self, title: str, summary: str, findings: tuple[str, ...], advice: str = ""
    ) -> None:
        super().__init__()
        self._title = title
        self._summary = summary
        self._findings = findings
        self._advice = advice

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label(content(self._title), classes="dialog-title")
            yield Static(content(self._summary, multiline=True), classes="dialog-text")
            with VerticalScroll(id="findings"):
                yield Static(Content("\n").join(content(line) for line in self._findings))
            if self._advice:
                yield Static(content(self._advice, multiline=True), classes="dialog-hint")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close").focus()

    @on(Button.Pressed)
    def _pressed(self) -> None:
        self.dismiss(True)


# --- checking the vault -------------------------------------------------------------------------


def checked_text(report: CheckReport) -> str:
    """The first line of `vault check`: what was looked at."""
    return (
        f"{plural(report.items, 'item')}, {plural(report.versions, 'version')}, "
        f"{plural(report.blobs, 'attached file')} checked."
    )


def conflicts_text(report: CheckReport) -> str:
    n = len(report.conflicts)
    if not n:
        return ""
    return f"{plural(n, 'item')} {agree(n, 'has', 'have')} conflicting versions (f8 compares them)."


def check_findings(report: CheckReport, titles: dict[str, str]) -> tuple[str, ...]:
    """Each thing wrong, one line each, as `vault check` prints them; a damaged note that
    still opens is named by its title too."""
    lines = [f"altered: {report.history}"] if report.history else []
    for item_id, why in sorted(report.corrupt.items(), key=lambda pair: pair[1]):
        title = titles.get(item_id)
        lines.append(f"damaged: {why}" + (f" (the note “{title}”)" if title else ""))
    lines += [f"damaged: {why}" for why in sorted(report.damaged_blobs.values())]
    lines += [
        f"damaged: key slot {name}: {why} (skipped: the other slots still open the vault)"
        for name, why in sorted(report.damaged_slots.items())
    ]
    return capped(lines, "`vault check` lists them all")


def check_title(report: CheckReport) -> str:
    if report.corrupt or report.damaged_blobs or report.damaged_slots:
        return "Damage found"
    return "History altered"


CHECK_ADVICE = (
    "Everything not listed opens. A note whose newest version does not open is left out of "
    "the list; its older versions still open: “Bring back damaged notes” (ctrl+p) writes each "
    "one's newest version that opens on top, and its History then offers the older ones "
    "(`vault history ID` and `vault revert ID VERSION` do the same). Your other devices and "
    "your backups may still hold what is damaged or missing here (Backups in the palette "
    "lists them)."
)
IMPORT_ADVICE = (
    "A file not imported stays where it is: mend it and import the folder again (the notes "
    "already imported are skipped). A note whose front matter was kept as text is in the "
    "vault: set its title and tags there."
)
