"""How many notes each notebook holds, one meaning for the app's sidebar and `vault
notebooks`: the notes outside the trash in the notebook and in its sub-notebooks, which is
what choosing the notebook shows (in the app, and in `vault ls --notebook`)."""

from __future__ import annotations

from collections.abc import Iterable

from vault.notes.model import Note, Notebook


def notes_per_notebook(notes: Iterable[Note], notebooks: Iterable[Notebook]) -> dict[str, int]:
    """Notebook id -> notes outside the trash in it and in its sub-notebooks."""
    direct: dict[str | None, int] = {}
    for note in notes:
        if not note.in_trash:
            direct[note.notebook] = direct.get(note.notebook, 0) + 1
    parents = {nb.id: nb.parent for nb in notebooks}
    totals: dict[str, int] = {}
    for notebook_id, count in direct.items():
        seen: set[str] = set()
        current = notebook_id
        while current is not None and current in parents and current not in seen:
            seen.add(current)  # a cycle left by concurrent moves must not loop forever
            totals[current] = totals.get(current, 0) + count
            current = parents[current]
    return totals
