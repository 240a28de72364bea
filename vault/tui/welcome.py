"""The note a new vault starts with: what the vault is and how to get around."""

WELCOME_TITLE = "Welcome to your vault"

# One line per paragraph or item: the editor wraps softly, so hard line breaks would show.
WELCOME_BODY = """\
# Welcome to your vault

Everything you write here is encrypted on this computer before it is saved. Only your password (or your recovery key) can open it again.

## Getting around

- **ctrl+n** writes a new note. Notes save themselves a moment after you stop typing, and whenever you move to another note, lock or quit.
- **ctrl+f** searches titles and bodies as you type: `"a phrase"`, `-word`, `tag:work`.
- **ctrl+p** opens the command palette: jump to any note, notebook or tag, or run an action.
- **ctrl+r** shows the note rendered, beside the text or on its own.
- **ctrl+t** tags a note, **F2** renames it, **F4** moves it to a notebook.
- **ctrl+l** locks the vault at once. It also locks by itself after a few idle minutes.
- **F1** lists every key.

## Good to know

- Deleting a note moves it to the **Trash**, where you can restore it.
- **ctrl+o** opens the note in your own editor (`$EDITOR`). The text goes through a private folder in memory that is wiped afterwards.
- The same vault works from the command line: try `vault ls` or `vault search`.

This note is yours: edit it, or delete it when you no longer need it.
"""  # noqa: E501
