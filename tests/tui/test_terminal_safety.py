"""Note text is untrusted when it reaches a terminal (issue 12, section 2), through the app.

A peer writes a note whose title, body, notebook and tag carry escape sequences and Textual
markup; it becomes the newest note. The app must open without a crash, show all of it as
literal text (control characters visibly escaped) in the list, the editor's border title and
details, the sidebar, the palette and notifications, never run a `[@click=...]` action, and
never write one byte of it raw to the terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App
from textual.command import CommandPalette

from tests.test_terminal_safety import PIECES, plant_conflict, plant_note, plant_notebook
from tests.tui.conftest import open_vault, settle, unlock, wait_until
from vault.textsafe import visible
from vault.tui.data import Target
from vault.tui.safetext import content, escaped, pictured, shown

OSC52 = "\x1b]52;c;cm0gLXJmIH4vKgo=\x07"
TITLE = "[@click=app.quit]Minutes[/] [/] " + OSC52 + " \x1b]0;pwned\x1b\\"
BODY = "zebra [bold]b[/bold] \x1b]52;c;cm0=\x1b\\\n\x9b2K [link=http://x]y[/link]\n"
NOTEBOOK = "Work \x1b]2;t\x07 [b]x"
TAGS = ("[/]", "[@click=app.quit]boom[/]")

# What Textual itself writes: colours (SGR) and cursor moves. Anything else with an ESC, or
# any other control character, came from the note.
_OWN_SEQUENCES = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\d+;\d+H")
_RAW = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plant_hostile(
    path: Path,
    title: str = TITLE,
    tags: tuple[str, ...] = TAGS,
    notebook: str = NOTEBOOK,
) -> str:
    """A note from a peer, newest of all; each test plants only what its case needs, so the
    case fails on its own before the fix (the title `[/]` fails every test at unlock)."""
    with open_vault(path) as vault:
        nb = plant_notebook(vault, notebook)
        note = plant_note(vault, title=title, body=BODY, tags=tags, notebook=nb.id)
        return note.id


def screen_text(app: App) -> str:
    """The characters on the screen, row by row."""
    update = app.screen._compositor.render_full_update()
    return "\n".join("".join(strip.text for strip in row) for row in update.strips)


def terminal_bytes(app: App) -> str:
    """What the app would write to the terminal for the whole screen."""
    return app.screen._compositor.render_full_update().render_segments(app.console)


def assert_nothing_raw(app: App) -> None:
    __tracebackhide__ = True
    written = _OWN_SEQUENCES.sub("", terminal_bytes(app))
    written = written.replace("\r\n", "\n")
    bad = _RAW.search(written)
    assert bad is None, f"raw {bad.group()!r} written to the terminal"


async def test_hostile_newest_note_opens_and_shows_as_text(sample_vault: Path, app_for) -> None:
    note_id = plant_hostile(sample_vault)
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)  # "Minutes [/]" ended the app with a MarkupError here
        main.go_to_note(note_id)
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note.id == note_id
        text = screen_text(app)
        # The border title, the list row and the details show the escaped text literally.
        assert visible(TITLE)[:40] in text
        assert "[@click=app.quit]Minutes[/] [/] ^[]52;c;" in text
        assert "#[/]" in text and "Work ^[]2;t^G [b]x" in text
        assert_nothing_raw(app)
        # The editor draws the body's controls as pictures; the document keeps them.
        assert main.pane.text == BODY
        assert "\u241b]52;c;cm0=\u241b\\" in text and "\ufffd2K" in text


async def test_clicking_the_border_title_runs_no_action(sample_vault: Path, app_for) -> None:
    note_id = plant_hostile(sample_vault, "[@click=app.quit]Quit me now[/]", (), "Plain")
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)
        main.go_to_note(note_id)
        await settle(pilot)
        pane = main.pane
        region = pane.region
        for dx in range(2, 30):  # along the whole start of the border title
            await pilot.click(offset=(region.x + dx, region.y))
        await settle(pilot)
        assert app.is_running and app.return_code is None
        assert app.screen is main


async def test_choosing_a_tag_named_markup_works(sample_vault: Path, app_for) -> None:
    plant_hostile(sample_vault, "Tagged", TAGS, "Plain")
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)
        sidebar = main.sidebar
        for tag in TAGS:
            node = sidebar.node_for(Target("tag", tag))
            sidebar.focus()
            sidebar.move_cursor(node)
            await pilot.press("enter")  # the tag `[/]` crashed the app here
            await settle(pilot)
            assert main.target == Target("tag", tag)
            pane = main.query_one("#list-pane")
            assert f"#{tag}" in screen_text(app)
            assert pane.border_title == content(f"#{tag}").markup
            assert [n.title for n in main.notes_list.notes] == ["Tagged"]
        assert_nothing_raw(app)


async def test_palette_shows_titles_notebooks_and_tags_as_text(sample_vault: Path, app_for) -> None:
    # A title that is valid markup (the border title did not crash on it, the palette did
    # not show it), and a notebook and tag that are not.
    title = "[@click=app.quit]Minutes[/] [b]x " + OSC52
    note_id = plant_hostile(sample_vault, title, ("[/]",), "Work [/]")
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)
        main.go_to_note(note_id)
        await settle(pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Minutes")
        await pilot.pause(0.5)
        await settle(pilot)
        text = screen_text(app)
        assert "[@click=app.quit]Minutes[/] [b]x ^[]52;c;" in text
        assert_nothing_raw(app)
        await pilot.press("escape")
        await settle(pilot)
        # Discovery lists notebooks and tags first; actions carry the current title as help.
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.pause(0.5)
        text = screen_text(app)
        assert "#[/]" in text and "Work [/]" in text
        assert_nothing_raw(app)


async def test_notifications_show_text_not_markup(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        main = await unlock(pilot)
        # As the app says "Kept your version of “…”": a title inside a notification.
        main.notify(f"Kept “{TITLE}”", title=f"Sync {OSC52}")
        await settle(pilot)
        from textual.widgets._toast import Toast

        shown_toasts = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any(
            t.startswith("Sync ^[]52;c;") and "Kept “[@click=app.quit]Minutes[/] [/] ^[]52" in t
            for t in shown_toasts
        ), shown_toasts
        assert "[@click=app.quit]" in screen_text(app)
        assert_nothing_raw(app)


async def test_conflict_view_of_a_hostile_note(sample_vault: Path, app_for) -> None:
    note_id = plant_hostile(sample_vault)
    with open_vault(sample_vault) as vault:
        plant_conflict(vault, vault.note(note_id), "theirs [/var/log/app]\n\x1b[2K\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)
        main.go_to_note(note_id)
        await settle(pilot)
        await pilot.press("f8")
        await settle(pilot)
        text = screen_text(app)
        assert "[/var/log/app]" in text and "^[[2K" in text
        assert_nothing_raw(app)
        await pilot.press("escape")
        await settle(pilot)


def test_the_helpers_never_parse_markup() -> None:
    assert content("[/]").plain == "[/]"
    assert content("a\x1b]0;x\x07").plain == "a^[]0;x^G"
    assert escaped("[b]\x1b") == "\\[b]^["
    assert shown("a\nb") == "a^Jb"
    line = "a\x1b[2K\tb\x9b\u202e"
    assert len(pictured(line)) == len(line) and "\t" in pictured(line)


@settings(max_examples=5)
@given(
    title=st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join),
    tag=st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join),
)
def test_any_hostile_title_and_tag_open_in_the_app(
    sample_vault: Path, app_for, title: str, tag: str
) -> None:
    import asyncio

    with open_vault(sample_vault) as vault:
        nb = plant_notebook(vault, tag)
        note_id = plant_note(vault, title=title, body=title, tags=(tag,), notebook=nb.id).id

    async def run() -> None:
        app = app_for(sample_vault)
        async with app.run_test(size=(140, 40)) as pilot:
            main = await unlock(pilot)
            main.go_to_note(note_id)
            await settle(pilot)
            assert visible(title)[:20] in screen_text(app)
            main.go_to_target(Target("tag", tag))
            await settle(pilot)
            assert_nothing_raw(app)

    asyncio.run(run())


async def test_rename_and_tags_dialogs_show_controls_visibly(sample_vault: Path, app_for) -> None:
    """An input draws its value as it is: the dialogs that edit a title or tags show its
    control characters visibly, and left as shown they change nothing."""
    title = "Plan " + OSC52 + " end"
    tag = "tg\x1b]0;pw\x07"
    note_id = plant_hostile(sample_vault, title, (tag,), "Plain")
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)
        main.go_to_note(note_id)
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        assert visible(title) in screen_text(app)
        assert_nothing_raw(app)
        await pilot.press("enter")  # left as shown: nothing renamed
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert visible(tag) in screen_text(app)
        assert_nothing_raw(app)
        await pilot.press("enter")  # left as shown: the tag is the same tag
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        note = vault.note(note_id)
        assert note.title == title and note.tags == (tag,)


async def test_an_altered_history_is_told_in_the_app(sample_vault: Path, app_for) -> None:
    """Rows removed without the key: the app says so when it opens, as the CLI does."""
    import sqlite3

    db = sqlite3.connect(sample_vault / "store.sqlite", isolation_level=None)
    db.execute("DELETE FROM ops WHERE seq = (SELECT max(seq) FROM ops)")
    db.close()
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await unlock(pilot)
        await settle(pilot)
        from textual.widgets._toast import Toast

        toasts = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any(t.startswith("History altered") for t in toasts), toasts


async def test_a_note_with_a_time_no_calendar_shows_opens_like_any(
    sample_vault: Path, app_for
) -> None:
    """A peer's note modified in the year 10000: the app opened to "internal error" at unlock
    (the list's age of the newest note); now it lists and shows it without a time."""
    with open_vault(sample_vault) as vault:
        note = vault.import_note(
            "Far future", "from a clock gone wrong\n", created=2**60, modified=2**60
        )
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)
        main.go_to_note(note.id)
        await settle(pilot)
        assert main.pane.note is not None and main.pane.note.id == note.id
        assert "Far future" in screen_text(app)
        assert app.is_running


@pytest.mark.parametrize("typed", ["", "abc"])
def test_keys_typed_as_the_app_starts_are_not_taken_for_the_terminals_answer(typed: str) -> None:
    """`vault` then the password at once: textual-image asks the terminal about graphics as
    the app loads and reads the answer from the keyboard's stream, so the typed keys were lost
    and the answer arrived in the password field ("abc" became seven characters, found by a
    first-hour test in tmux). With keys waiting, the terminal is not asked (images are drawn
    in half blocks) and the keys stay for the app; with none, it is asked as before."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 640, 384))
    program = (
        "import sys\n"
        "import vault.tui.widgets.image_view as v\n"
        "import termios, tty, os\n"
        "tty.setcbreak(0, termios.TCSANOW)\n"
        "waiting = os.read(0, 64) if v._typed_ahead() else b''\n"
        "sys.stderr.write(repr((v.GRAPHICS, waiting)))\n"
    )
    if typed:
        os.write(master, typed.encode())
    child = subprocess.Popen(
        [sys.executable, "-c", program],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    asked = b""
    try:
        while child.poll() is None or select.select([master], [], [], 0)[0]:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    asked += os.read(master, 4096)
                except OSError:
                    break
        _, said = child.communicate(timeout=60)
    finally:
        os.close(master)
    assert child.returncode == 0, said
    graphics, waiting = eval(said.decode())  # (a tuple the child printed with repr)
    assert graphics is False
    if typed:
        assert b"\x1b[c" not in asked and waiting == typed.encode()
    else:
        assert b"\x1b[c" in asked  # the terminal is asked (nothing answers it here)
