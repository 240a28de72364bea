"""Small modal dialogs: confirm, ask for a name, edit tags (with completion), pick a notebook."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from vault.errors import InvalidInputError
from vault.notes.vault import clean_tag
from vault.textsafe import visible
from vault.tui.safetext import content

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """A centred card; escape cancels (dismisses with None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CLASSES = "dialog"

    def on_mount(self) -> None:
        # (Textual runs this as well as a subclass's own on_mount.) On a short terminal the
        # card scrolls, and focusing its field scrolled the title out of view: a dialog
        # opened at 80x24 showed a path and a field, saying nothing of what it was for.
        self.call_after_refresh(self._show_top)

    def _show_top(self) -> None:
        for card in self.query(".card"):
            card.scroll_home(animate=False)
        focused = self.focused
        if focused is not None:  # still in view (a button at the foot: as little as needed)
            self.call_after_refresh(focused.scroll_visible, animate=False)

    def action_cancel(self) -> None:
        self.dismiss(None)


class InputDialog(Dialog[T]):
    """A dialog around one text field (id "value") with a hint line (class "dialog-hint") and
    OK/Cancel buttons (ids "ok", "cancel"): Enter or OK checks the text, a refusal shows in
    the hint and keeps the dialog open, Cancel or escape dismisses it with None."""

    # Whether the text is selected at first, so typing replaces it (a title to rename).
    SELECT_ALL: ClassVar[bool] = False

    def on_mount(self) -> None:
        field = self.query_one("#value", Input)
        self.set_focus(field)  # now, not later: keys typed at once must land in the field
        if self.SELECT_ALL:
            field.select_all()
        else:
            field.cursor_position = len(field.value)

    def accept(self, text: str) -> T:
        """The result for `text`; raise `Refused` with a one-line reason to keep asking."""
        raise NotImplementedError

    def _submit(self) -> None:
        try:
            result = self.accept(self.query_one("#value", Input).value)
        except Refused as refused:
            self.query_one(".dialog-hint", Static).update(str(refused))
            return
        self.dismiss(result)

    @on(Input.Submitted, "#value")
    def _submitted(self) -> None:
        self._submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        elif event.button.id == "cancel":
            self.dismiss(None)


class Refused(Exception):
    """What the person typed cannot be used; the message says why, in one line."""


class ConfirmDialog(Dialog[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel"),
        Binding("y", "confirm", "Yes", show=False),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        confirm: str,
        *,
        danger: bool = False,
        cancel: str = "Cancel",
    ) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._confirm = confirm
        self._cancel = cancel
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label(self._title, classes="dialog-title")
            yield Static(content(self._message, multiline=True), classes="dialog-text")
            with Horizontal(classes="buttons"):
                yield Button(self._cancel, id="cancel")
                yield Button(
                    self._confirm, id="confirm", variant="error" if self._danger else "primary"
                )

    def on_mount(self) -> None:
        # A destructive choice is never the default: enter on the focused button cancels.
        self.query_one("#cancel" if self._danger else "#confirm").focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


class PromptDialog(InputDialog[str | None]):
    """One line of text: a title, a notebook name. Empty is refused in place."""

    SELECT_ALL = True

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        placeholder: str = "",
        action: str = "OK",
        hint: str = "",
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._check = check  # the reason a value is refused in place, or None
        self._title = title
        self._value = value
        # An input draws its value as it is, so a title from another device is shown with its
        # control characters made visible; left as shown, the original comes back unchanged.
        self._shown = visible(value)
        self._placeholder = placeholder
        self._action = action
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label(self._title, classes="dialog-title")
            yield Input(
                self._shown, placeholder=self._placeholder, id="value", select_on_focus=True
            )
            yield Static(self._hint, classes="dialog-hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self._action, id="ok", variant="primary")

    def accept(self, text: str) -> str:
        if text == self._shown and self._value:
            return self._value
        value = " ".join(text.split())
        if not value:
            raise Refused("This cannot be empty.")
        reason = self._check(value) if self._check is not None else None
        if reason:  # kept asking, the text as typed, rather than refused after closing
            raise Refused(reason)
        return value


class TagSuggester(Suggester):
    """Completes the tag being typed (after the last comma) from the tags that exist."""

    def __init__(self, tags: list[str]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._tags = tags

    async def get_suggestion(self, value: str) -> str | None:
        head, comma, last = value.rpartition(",")
        fragment = last.lstrip().lstrip("#").casefold()
        if not fragment:
            return None
        typed = {t.strip().lstrip("#").casefold() for t in head.split(",")}
        for tag in self._tags:
            if tag.casefold().startswith(fragment) and tag.casefold() not in typed:
                prefix = f"{head}{comma} " if comma else ""
                return prefix + tag
        return None


def split_tags(text: str) -> list[str]:
    return [t.strip().lstrip("#").strip() for t in text.split(",") if t.strip().lstrip("#")]


class TagsDialog(Dialog[list[str] | None]):
    """Tags as a comma-separated line; → accepts the completion; the list below adds a tag."""

    def __init__(self, note_title: str, tags: tuple[str, ...], known: list[str]) -> None:
        super().__init__()
        self._note_title = note_title
        self._tags = tags
        self._known = known
        # Tags are shown with control characters made visible (an input draws its value as it
        # is); a tag left as shown comes back as the tag it was.
        self._originals = {visible(t): t for t in (*known, *tags)}

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("Tags", classes="dialog-title")
            yield Static(content(self._note_title), classes="dialog-text")
            yield Input(
                ", ".join(visible(t) for t in self._tags),
                placeholder="work, ideas",
                suggester=TagSuggester(self._known),
                id="value",
            )
            yield Static(
                "Separate tags with commas; → completes a known tag.", classes="dialog-hint"
            )
            yield OptionList(*[Option(content(f"#{t}"), id=t) for t in self._known], id="known")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save tags", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#known").display = bool(self._known)
        field = self.query_one(Input)
        field.focus()
        field.cursor_position = len(field.value)

    def _submit(self) -> None:
        try:
            tags = [
                clean_tag(self._originals.get(t, t))
                for t in split_tags(self.query_one(Input).value)
            ]
        except InvalidInputError as exc:
            self.query_one(".dialog-hint", Static).update(str(exc))
            return
        self.dismiss(tags)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._submit()

    @on(OptionList.OptionSelected, "#known")
    def _add_known(self, event: OptionList.OptionSelected) -> None:
        field = self.query_one(Input)
        tags = split_tags(field.value)
        tag = visible(event.option.id or "")
        if tag.casefold() not in {t.casefold() for t in tags}:
            tags.append(tag)
        field.value = ", ".join(tags)
        field.focus()
        field.cursor_position = len(field.value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)


@dataclass(frozen=True)
class MoveChoice:
    notebook_id: str | None  # None: the top level, or a new notebook at `new_path`
    new_path: str | None = None


class MoveDialog(Dialog[MoveChoice | None]):
    """Pick a notebook by typing part of its path; a path that does not exist yet is offered as
    a new notebook."""

    TOP = "__top__"
    NEW = "__new__"

    def __init__(
        self,
        note_title: str,
        notebooks: list[tuple[str, str]],
        current: str | None,
        *,
        heading: str = "Move to notebook",
        top: str = "(top level, no notebook)",
        inside: Iterable[str] = (),
    ):
        super().__init__()
        self._note_title = note_title
        self._notebooks = notebooks  # (id, path)
        self._current = current
        self._heading = heading  # (a notebook moves "under" one, a note "to" one)
        self._top = top
        # Paths a new notebook may not be made in (a notebook moved: itself and its own).
        self._inside = {path.casefold() for path in inside}

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label(self._heading, classes="dialog-title")
            yield Static(content(self._note_title), classes="dialog-text")
            yield Input(placeholder="type to filter, or a new path such as Work/Ideas", id="value")
            yield OptionList(id="choices")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Move", id="ok", variant="primary")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, text: str) -> None:
        wanted = " ".join(text.split()).strip("/")
        folded = wanted.casefold()
        options: list[Option] = []
        if not folded:
            mark = "  (here now)" if self._current is None else ""
            options.append(Option(self._top + mark, id=self.TOP))
        exact = False
        for nb_id, path in self._notebooks:
            if folded in path.casefold():
                mark = "  (here now)" if nb_id == self._current else ""
                options.append(Option(content(path + mark), id=nb_id))
                exact = exact or path.casefold() == folded
        parts = [part.strip() for part in folded.split("/") if part.strip()]
        within = any("/".join(parts[:n]) in self._inside for n in range(1, len(parts) + 1))
        if folded and within:
            options.append(Option(content(f"{wanted}: inside itself"), id=None, disabled=True))
        elif folded and not exact:
            options.append(Option(content(f"+ new notebook: {wanted}"), id=self.NEW))
        choices = self.query_one(OptionList)
        choices.clear_options()
        choices.add_options(options)
        if options:
            choices.highlighted = 0

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_key(self, event) -> None:  # type: ignore[no-untyped-def]
        # Up and down move through the choices while typing stays in the field.
        if event.key in ("up", "down") and self.query_one(Input).has_focus:
            choices = self.query_one(OptionList)
            if event.key == "down":
                choices.action_cursor_down()
            else:
                choices.action_cursor_up()
            event.stop()

    def _choose(self, option_id: str | None) -> None:
        if option_id is None:
            return
        if option_id == self.TOP:
            self.dismiss(MoveChoice(None))
        elif option_id == self.NEW:
            path = " ".join(self.query_one(Input).value.split()).strip("/")
            self.dismiss(MoveChoice(None, new_path=path))
        else:
            self.dismiss(MoveChoice(option_id))

    def _highlighted_id(self) -> str | None:
        choices = self.query_one(OptionList)
        if choices.highlighted is None:
            return None
        return choices.get_option_at_index(choices.highlighted).id

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._choose(self._highlighted_id())

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._choose(self._highlighted_id())
        else:
            self.dismiss(None)
