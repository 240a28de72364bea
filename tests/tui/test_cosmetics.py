"""Small things seen in an hour of use, each checked on screen: the keyfile placeholder, list
snippets, the notebook counts, the conflict view's wording, the note header at 80 columns,
tags on a light theme, task boxes in the preview and counted nouns."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, Static

from tests.conftest import CLI
from tests.tui.conftest import Devices, open_vault, set_config, settle, type_into, unlock
from tests.tui.test_editing import open_note
from vault.tui.data import Target
from vault.tui.screens.conflicts import ConflictScreen, DiffView
from vault.tui.screens.create import CreateVaultScreen
from vault.tui.screens.dialogs import ConfirmDialog
from vault.tui.screens.history import HistoryScreen

LONG = (
    "Notes from the offsite: the quarterly budget review for the whole department happens "
    "on Friday afternoon with everybody in the big room, bring the numbers."
)


def _contrast(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> float:
    def lum(rgb: tuple[int, int, int]) -> float:
        def channel(c: int) -> float:
            x = c / 255
            return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


async def test_the_keyfile_placeholder_fits_at_80_columns(home_vault: Path, app_for) -> None:
    app = app_for(home_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, CreateVaultScreen)
        field = app.screen.query_one("#keyfile", Input)
        assert len(field.placeholder) <= field.content_region.width, field.placeholder


async def test_list_snippets_read_as_text_and_matches_start_at_a_word(
    sample_vault: Path, app_for
) -> None:
    with open_vault(sample_vault) as vault:
        vault.create_note("Offsite", f"## **Agenda**\n\n{LONG}\n")
        vault.create_note("Errands", "- [ ] call [the garage](https://example.com) about `tyres`\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        shown = {n.title: main.notes_list._detail_line(n, 60).plain for n in main.notes_list.notes}
        assert "The Left Hand of Darkness" in shown["Reading list"]
        assert "*" not in shown["Reading list"]
        assert shown["Errands"].strip() == "call the garage about tyres"
        assert shown["Offsite"].strip() == "Agenda"
        await type_into(pilot, "#search", "everybody")
        await settle(pilot)
        (hit,) = main.notes_list.notes
        line = main.notes_list._detail_line(hit, 60).plain.strip()
        assert line.startswith("…") and "everybody" in line
        first_word = line[1:].split()[0]
        assert first_word in LONG.split(), line  # a whole word, not the end of one


async def test_notebook_counts_agree_between_the_sidebar_and_the_cli(
    sample_vault: Path, app_for, tmp_path: Path
) -> None:
    """Both count a notebook's notes with its sub-notebooks' (what choosing it shows)."""
    listed = CLI(sample_vault, tmp_path / "config.toml")("notebooks", "--json", check=True)
    cli_counts = {nb["path"]: nb["notes"] for nb in json.loads(listed.stdout)}
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        sidebar = {nb.path: nb.notes for nb in main.sidebar_data.notebooks}
    assert sidebar == cli_counts
    assert cli_counts["Work"] == 2  # its own note and the one in Work/Projects


async def test_the_conflict_view_says_what_both_versions_agree_on(
    devices: Devices, app_for
) -> None:
    set_config(sync__auto=False)
    devices.conflict("Garden ideas", "Tomatoes by the east fence.\n", "Tomatoes inside.\n")
    app = app_for(devices.desk)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Garden ideas")
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, ConflictScreen)
        said = app.screen.query_one(DiffView).note
        assert "in trash" not in said
        assert said == (
            "Both versions agree on the title, the notebook, the tags and whether it is "
            "pinned or in the trash."
        )


async def test_the_note_header_ends_with_an_ellipsis_at_80_columns(
    sample_vault: Path, app_for
) -> None:
    with open_vault(sample_vault) as vault:
        note = vault.find_note("Quarterly planning")
        more = ["budget", "quarterly", "review", "offsite", "finance"]
        vault.update_note(note, tags=[*note.tags, *more])
    app = app_for(sample_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Quarterly planning")
        await settle(pilot)
        details = main.query_one("#editor-details", Static)
        line = details.render_line(0).text.rstrip()
        assert line.endswith("…"), line
        assert details.render_line(0).cell_length <= details.size.width


async def test_tags_are_readable_on_the_light_theme(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = "textual-light"
        main = await unlock(pilot)
        await settle(pilot)
        tags = main.notes_list._style("note-list--tags").color
        background = main.notes_list._style("base").bgcolor
        assert tags is not None and background is not None
        ratio = _contrast(tuple(tags.get_truecolor()), tuple(background.get_truecolor()))
        assert ratio >= 4.5, ratio  # WCAG AA for text


async def test_task_lists_preview_with_boxes(sample_vault: Path, app_for) -> None:
    with open_vault(sample_vault) as vault:
        vault.create_note("Shopping", "- [ ] milk\n- [x] eggs\n\n```\n- [ ] kept as code\n```\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Shopping")
        await pilot.press("ctrl+r")  # the preview beside the text
        await settle(pilot)
        shown = app.export_screenshot()
        assert "☐" in shown and "milk" in shown and "☑" in shown
        assert "[ ] milk" not in shown and "[x] eggs" not in shown
        assert "- [ ] kept as code" in main.pane.markdown.source  # code keeps its text


async def test_counted_nouns_are_singular_for_one(sample_vault: Path, app_for) -> None:
    """No "(s)" and no "1 versions": the delete-notebook question and the history."""
    with open_vault(sample_vault) as vault:
        vault.create_note("Just once", "one\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        home = next(nb for nb in main.sidebar_data.notebooks if nb.path == "Home")
        main.sidebar.focus()
        main.sidebar.show(main.sidebar_data, Target("notebook", home.id))
        await pilot.pause()
        await pilot.press("delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        asked = app.screen._message  # type: ignore[attr-defined]
        assert "(1 note)" in asked and "(s)" not in asked, asked
        await pilot.press("escape")
        await settle(pilot)
        await open_note(pilot, main, "Just once")
        await pilot.press("f6")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        help_text = str(app.screen.query_one("#history-help", Static).render())
        assert help_text.startswith("1 version,"), help_text


def test_sync_and_plural_words() -> None:
    from vault.sync import SyncReport
    from vault.wording import plural

    assert [plural(n, "version") for n in (0, 1, 2, 1234)] == [
        "0 versions",
        "1 version",
        "2 versions",
        "1,234 versions",
    ]
    assert plural(1, "match") == "1 match" and plural(3, "match") == "3 matches"
    report = SyncReport("/sync", pulled=1, pushed=0, devices=1, conflicts=("x",))
    lines = report.lines()
    assert lines[0] == "Received 1 change from 1 other device; sent 0."
    assert "1 conflict needs you" in lines[1]


async def test_status_segments_stay_apart_whatever_order_they_come_in(
    sample_vault: Path, app_for
) -> None:
    """ "1 pending4 words", "25 charslink: f12 follows it" at 80 columns (a first-hour
    report, seen again in tmux): the word count and the link hint are added to the bar later,
    and the segment before them kept the no-margin of the bar's last segment."""
    from vault.tui.widgets.status import StatusBar

    async with app_for(sample_vault).run_test(size=(80, 24)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Reading list")
        for key, text in (("link", "link: f12 follows it"), ("link", ""), ("sync", "")):
            main.set_status(key, text)  # each shown or hidden after the others were laid out
            await settle(pilot)
        main.set_status("sync", "1 pending")
        await settle(pilot)
        main.set_status("link", "link: f12 follows it")
        await settle(pilot)
        bar = main.query_one(StatusBar)
        shown = [s for s in bar.query(".status-segment").results(Static) if s.display]
        assert len(shown) >= 3
        assert shown[0].id == "status-vault" and shown[0].styles.margin.left == 0
        for segment in shown[1:]:  # each apart from the one before it, and none after the last
            assert segment.styles.margin.left == 3, segment.id
        assert all(segment.styles.margin.right == 0 for segment in shown)


async def test_a_notebook_rename_that_cannot_be_done_is_refused_in_the_dialog(
    sample_vault: Path, app_for
) -> None:
    """ "Home/" closed the dialog, dropped the text and then said it could not be done; a
    name a sibling has made a second one (first-hour reports). Both are refused in place,
    the dialog still open with the text typed; a good name then renames."""
    from vault.tui.screens.dialogs import PromptDialog

    hostile = "Ev\x1b]52;c;aGk=\x07[b]il"  # a sibling's name from another device
    with open_vault(sample_vault) as vault:
        vault.ensure_notebook("Work/Misc")
        vault.ensure_notebook(f"Work/{hostile}")
    async with app_for(sample_vault).run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await settle(pilot)
        projects = next(nb for nb in main.sidebar_data.notebooks if nb.path == "Work/Projects")
        main.go_to_target(Target("notebook", projects.id))
        await settle(pilot)
        for typed, said in (
            ("Home/", "cannot hold '/'"),
            ("misc", "Work/Misc is there already"),
            (hostile, "Work/Ev^[]52;c;aGk=^G[b]il is there already"),  # visible, not markup
        ):
            main.action_rename_notebook()
            await settle(pilot)
            dialog = pilot.app.screen
            assert isinstance(dialog, PromptDialog), (main.target, main.sidebar.highlighted_target)
            await type_into(pilot, "#value", typed)
            await pilot.press("enter")
            await settle(pilot)
            assert pilot.app.screen is dialog  # still asking, with what was typed
            assert dialog.query_one("#value", Input).value == typed
            assert said in str(dialog.query_one(".dialog-hint", Static).render())
            await pilot.press("escape")
            await settle(pilot)
        main.action_rename_notebook()
        await settle(pilot)
        await type_into(pilot, "#value", "Active")
        await pilot.press("enter")
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        paths = sorted(vault.notebook_path(nb.id) for nb in vault.notebooks())
    assert "Work/Active" in paths and "Work/Projects" not in paths
