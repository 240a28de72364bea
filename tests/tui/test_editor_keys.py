"""The editor as a writer expects it: ctrl+home/end, End on a wrapped line, lists that carry on,
inline styles, find in note and go to line, and room to write (zen, the list folding away)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.tui.conftest import open_vault, settle, unlock
from tests.tui.test_editing import open_note
from vault.tui.markdown_edit import ListStep, continue_list, inline_spans, markdown_inline_spans

LONG = " ".join(["word"] * 60)


async def _note(pilot, main, title: str = "Garden ideas"):
    await open_note(pilot, main, title)
    return main.pane.text_area


async def test_ctrl_home_and_ctrl_end_go_to_the_start_and_end_of_the_note(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        area = await _note(pilot, main, "Quarterly planning")
        await pilot.press("down", "down", "right")
        await pilot.press("ctrl+end")
        assert area.cursor_location == area.document.end
        await pilot.press("ctrl+home")
        assert area.cursor_location == (0, 0)


async def test_end_on_a_wrapped_line_goes_to_the_end_of_the_markdown_line(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(80, 30)) as pilot:
        main = await unlock(pilot)
        area = await _note(pilot, main)
        area.load_text(LONG + "\nsecond line")
        area.move_cursor((0, 0))
        await pilot.pause()
        assert area.wrapped_document.height > 2  # the paragraph wraps on screen
        await pilot.press("end")
        assert area.cursor_location == (0, len(LONG))


async def test_enter_carries_a_list_on_and_ends_it_on_an_empty_item(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        area = await _note(pilot, main)
        area.load_text("")
        await pilot.press(*"- one", "enter", *"two", "enter", "enter", *"after")
        assert area.text == "- one\n- two\nafter"  # the empty item's marker went
        area.load_text("")
        await pilot.press(*"9. nine", "enter", *"ten", "enter", "enter")
        await pilot.press(*"- [x] done", "enter", *"next")
        assert area.text == "9. nine\n10. ten\n- [x] done\n- [ ] next"
        area.load_text("plain")
        area.move_cursor((0, 5))
        await pilot.press("enter", *"x")
        assert area.text == "plain\nx"


async def test_bold_emphasis_and_code_are_highlighted(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        area = await _note(pilot, main)
        area.load_text("Some **strong** and *soft* and `code` – ünïcode **b**\n```\n**not**\n```\n")
        await pilot.pause()
        line = area.document.get_line(0).encode()
        styled = {line[a:b].decode(): name for a, b, name in area._highlights[0]}
        assert styled["**strong**"] == "bold"
        assert styled["*soft*"] == "italic"
        assert styled["`code`"] == "inline_code"
        assert styled["**b**"] == "bold"  # byte offsets after non-ASCII text
        assert not [h for h in area._highlights[2] if h[2] == "bold"]  # inside a code block


async def test_find_in_note_next_previous_and_go_to_line(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        area = await _note(pilot, main)
        area.load_text("apple\nbanana apple\ncherry\nApple pie\n")
        area.move_cursor((0, 0))
        await pilot.press("ctrl+g")
        find = main.pane.find_box
        assert find.has_focus and find.display
        await pilot.press(*"apple")
        assert area.selected_text == "apple" and area.selection.start == (0, 0)
        await pilot.press("enter")
        assert area.selection.start == (1, 7)
        await pilot.press("f3")
        assert area.selection.start == (3, 0)  # case does not matter
        await pilot.press("shift+enter")
        assert area.selection.start == (1, 7)
        await pilot.press("shift+f3")
        assert area.selection.start == (0, 0)
        await pilot.press("f3")
        await pilot.press("enter", "enter")  # wraps round to the first
        assert area.selection.start == (0, 0)
        status = str(main.pane.query_one("#find-status").render())
        assert status == "1 of 3"
        find.value = ":3"
        await pilot.pause()
        assert area.cursor_location == (2, 0)
        await pilot.press("enter")  # a line reached: back to writing there
        assert area.has_focus and not main.pane.query_one("#find-bar").display
        await pilot.press(*"X")
        assert area.document.get_line(2) == "Xcherry"
        await pilot.press("ctrl+g", "escape")
        assert area.has_focus


async def test_zen_gives_the_editor_the_whole_width_and_toggles_back(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        area = await _note(pilot, main)
        before = area.size.width
        await pilot.press("f10")
        await pilot.pause()
        assert not main.sidebar.display and not main.query_one("#list-pane").display
        assert area.size.width >= 110 > before
        assert area.has_focus
        await pilot.press("f10")
        await pilot.pause()
        assert main.query_one("#list-pane").display and main.sidebar.display
        assert area.size.width == before
        await pilot.press("f10", "escape")  # leaving the editor ends zen: the list is back
        await pilot.pause()
        assert main.notes_list.has_focus and main.query_one("#list-pane").display


async def test_below_100_columns_the_list_folds_away_while_writing(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await unlock(pilot)
        assert main.query_one("#list-pane").display
        area = await _note(pilot, main)
        await pilot.pause()
        assert not main.query_one("#list-pane").display
        assert area.size.width >= 70
        await pilot.press(*"typed ")
        await pilot.press("escape")
        await pilot.pause()
        assert main.query_one("#list-pane").display and main.notes_list.has_focus
        await pilot.press("ctrl+b")  # the sidebar still comes when asked for
        await pilot.pause()
        assert main.sidebar.display and main.sidebar.has_focus
    with open_vault(sample_vault) as vault:
        assert vault.find_note("Garden ideas").body.startswith("typed ")


async def test_side_preview_at_120_columns_leaves_the_editor_room(
    sample_vault: Path, app_for
) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        area = await _note(pilot, main)
        await pilot.press("ctrl+r")  # side by side
        await settle(pilot)
        assert main.pane.preview == "side"
        assert area.size.width >= 44
        preview = main.query_one("#preview-scroll")
        assert preview.size.width >= 28
        await pilot.press("ctrl+b")  # the sidebar is one key away
        await pilot.pause()
        assert main.sidebar.display


def test_continue_list_rules() -> None:
    assert continue_list("- item") == ListStep("- ")
    assert continue_list("  * nested") == ListStep("  * ")
    assert continue_list("+ plus") == ListStep("+ ")
    assert continue_list("9. nine") == ListStep("10. ")
    assert continue_list("3) three") == ListStep("4) ")
    assert continue_list("- [x] done") == ListStep("- [ ] ")
    assert continue_list("- [ ] ") == ListStep(end=True)
    assert continue_list("1. ") == ListStep(end=True)
    assert continue_list("plain") is None
    assert continue_list("-dash") is None
    assert continue_list("**bold** start") is None


def test_inline_spans() -> None:
    def named(line: str) -> list[tuple[str, str]]:
        return [(line[a:b], name) for a, b, name in inline_spans(line)]

    assert named("a **b** *c* `d`") == [
        ("`d`", "inline_code"),
        ("**b**", "bold"),
        ("*c*", "italic"),
    ]
    assert named("`**not bold**`") == [("`**not bold**`", "inline_code")]
    assert named("2 * 3 * 4 and snake_case_name") == []
    assert named("**b *i* b**") == [("**b *i* b**", "bold"), ("*i*", "italic")]
    assert markdown_inline_spans(["```", "**x**", "```", "**y**"]) == {3: [(0, 5, "bold")]}


def test_find_box_is_an_input() -> None:
    from vault.tui.widgets.editor import FindBox

    assert issubclass(FindBox, Input)
