"""Where notes are filed: the notebook tree and the tag registry.

`Filing` is the layer of `Vault` above the decrypted items (vault.notes.cache): notebooks by
id and path, nested, created, renamed and moved; tags with their keyed ids and one spelling
each. What touches notes as well (deleting a notebook, renaming a tag on every note) is in
vault.notes.editing, the layer above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol, TypeVar

from vault.errors import AmbiguousError, InvalidInputError, NotFoundError
from vault.notes.cache import ItemCache
from vault.notes.model import Notebook, Tag, now_ms
from vault.sealing import crypto
from vault.sealing.envelope import short


def clean_name(name: str, what: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInputError(f"a {what} needs a name")
    if "/" in name:
        raise InvalidInputError(f"a {what} name cannot contain '/' (it separates nested notebooks)")
    return name


def clean_tag(name: str) -> str:
    name = " ".join(name.strip().lstrip("#").split())
    if not name:
        raise InvalidInputError("a tag needs a name")
    if "," in name:
        raise InvalidInputError("a tag name cannot contain ','")
    return name


def closest_name(typed: str, names: Iterable[str]) -> str | None:
    """The name in `names` closest to `typed` (case aside), if one is close (difflib)."""
    import difflib  # (only when something was not found)

    by_fold = {name.casefold(): name for name in names}
    found = difflib.get_close_matches(typed.casefold(), list(by_fold), n=1)
    return by_fold[found[0]] if found else None


class _Filed(Protocol):
    """A notebook as the domain holds it (`Notebook`) or as a face lists it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> str | None: ...


F = TypeVar("F", bound=_Filed)


def sibling_named(notebooks: Iterable[F], name: str, parent: str | None, but: str) -> F | None:
    """The notebook other than `but` in `parent` named `name`, case aside (as a path is looked
    up): a rename or move that would put a second one beside it is refused, since a path could
    then name neither (`Filing._refuse_twin`, and the app's rename dialog before it closes)."""
    folded = name.casefold()
    for nb in notebooks:
        if nb.id != but and nb.parent == parent and nb.name.casefold() == folded:
            return nb
    return None


def descendants(notebooks: Iterable[_Filed], notebook_id: str) -> set[str]:
    """The ids of `notebook_id` and every notebook inside it, by parent (a name from another
    device may hold a '/', so never by path)."""
    by_parent: dict[str | None, list[str]] = {}
    for nb in notebooks:
        by_parent.setdefault(nb.parent, []).append(nb.id)
    result = {notebook_id}
    stack = [notebook_id]
    while stack:
        for child in by_parent.get(stack.pop(), []):
            if child not in result:
                result.add(child)
                stack.append(child)
    return result


def not_found(what: str, typed: str, names: Iterable[str], listing: str) -> NotFoundError:
    """ "no notebook 'x'", with the closest name there is (`closest_name`), and the command
    that lists them all."""
    close = closest_name(typed, names)
    if close is not None:
        return NotFoundError(
            f"no {what} '{typed}'; did you mean '{close}'? (`{listing}` lists them)"
        )
    return NotFoundError(f"no {what} '{typed}'; `{listing}` lists them")


class Filing(ItemCache):
    """Notebooks and tags of an unlocked vault (see the module docstring)."""

    # --- notebooks -------------------------------------------------------------------------------

    def _notebook_map(self) -> dict[str, Notebook]:
        with self._lock:
            self.refresh()
            return self._derive("notebooks", Notebook)

    def notebooks(self) -> list[Notebook]:
        """All notebooks, parents before children, siblings by name."""
        return ordered_notebooks(self._notebook_map())

    def first_notebooks(self) -> list[Notebook] | None:
        """The notebooks as the app's first screen knows them (`ItemCache.first_screen`),
        ordered as `notebooks()`; None once the whole listing is read (or without a head).
        Takes no lock and reads nothing, as `first_screen`."""
        screen = self._screen
        return None if screen is None else ordered_notebooks(screen.notebooks)

    def notebook(self, notebook_id: str) -> Notebook:
        nb = self._notebook_map().get(notebook_id)
        if nb is None:
            raise NotFoundError(f"no notebook with id {short(notebook_id)}")
        return nb

    def notebook_path(self, notebook_id: str | None) -> str:
        """'Work/Projects' for a nested notebook; '' for the top level. From the items as last
        read: callers name notebooks of notes they just listed, often thousands in a row, and
        asking the store for changes each time was most of `vault ls --json`."""
        if notebook_id is None:
            return ""
        with self._lock:
            by_id = self._derive("notebooks", Notebook)
        return notebook_path_in(by_id, notebook_id)

    def notebook_descendants(self, notebook_id: str) -> set[str]:
        return descendants(self._notebook_map().values(), notebook_id)

    def find_notebook(self, ref: str) -> Notebook:
        """A notebook by path ('Work/Projects'), id, or unique id prefix."""
        ref = ref.strip().strip("/")
        if not ref:
            raise InvalidInputError("name a notebook by its path, such as Work/Projects")
        by_id = self._notebook_map()
        if ref in by_id:
            return by_id[ref]
        matches = [nb for nb in by_id.values() if self.notebook_path(nb.id) == ref]
        if not matches:
            folded = ref.casefold()
            matches = [
                nb for nb in by_id.values() if self.notebook_path(nb.id).casefold() == folded
            ]
        if not matches and len(ref) >= 4:
            matches = [nb for nb in by_id.values() if nb.id.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(sorted(short(nb.id) for nb in matches))  # (whatever order read)
            raise AmbiguousError(f"notebook '{ref}' matches {len(matches)} notebooks ({ids})")
        paths = [self.notebook_path(nb_id) for nb_id in by_id]
        raise not_found("notebook", ref, paths, "vault notebooks")

    def ensure_notebook(self, path: str) -> tuple[Notebook, bool]:
        """The notebook at `path`, creating missing levels. Returns it and whether it was new."""
        parts = [p for p in path.strip().split("/") if p.strip()]
        if not parts:
            raise InvalidInputError("name a notebook by its path, such as Work/Projects")
        with self._lock:
            parent: str | None = None
            created = False
            nb: Notebook | None = None
            for part in parts:
                name = clean_name(part, "notebook")
                siblings = [
                    n
                    for n in self._notebook_map().values()
                    if n.parent == parent and n.name.casefold() == name.casefold()
                ]
                if siblings:
                    nb = min(siblings, key=lambda n: (n.created, n.id))
                else:
                    nb = self.create_notebook(name, parent)
                    created = True
                parent = nb.id
            assert nb is not None
            return nb, created

    def create_notebook(self, name: str, parent: str | None = None) -> Notebook:
        with self._lock:
            if parent is not None:
                self.notebook(parent)
            now = now_ms()
            nb = Notebook(
                id=crypto.random_id(),
                name=clean_name(name, "notebook"),
                parent=parent,
                created=now,
                modified=now,
            )
            written = self._write(nb, [])
            assert isinstance(written, Notebook)
            return written

    def _refuse_twin(self, nb: Notebook, name: str, parent: str | None) -> None:
        """A rename or move that would put two notebooks of one name side by side is refused
        (`sibling_named`), as creating a second one is (`ensure_notebook` finds the one there)."""
        other = sibling_named(self._notebook_map().values(), name, parent, nb.id)
        if other is not None:
            where = self.notebook_path(parent) if parent else "the top level"
            raise InvalidInputError(
                f"{where} already has a notebook named '{other.name}'; rename one of them first"
            )

    def move_notebook_to(self, nb: Notebook, path: str | None) -> Notebook:
        """Move `nb` under the notebook at `path`, made if missing (None: to the top level).
        A path into `nb` itself is refused before anything is made (no stray notebook)."""
        with self._lock:
            if path is None:
                return self.move_notebook(nb, None)
            inside = self.notebook_descendants(nb.id)
            parent: str | None = None
            for part in [p for p in path.strip().split("/") if p.strip()]:
                name = clean_name(part, "notebook").casefold()
                found = [
                    n
                    for n in self._notebook_map().values()
                    if n.parent == parent and n.name.casefold() == name
                ]
                if not found:
                    break  # the rest is made new, under a notebook outside `nb`
                parent = min(found, key=lambda n: (n.created, n.id)).id  # as ensure_notebook
                if parent in inside:
                    raise InvalidInputError("a notebook cannot move inside itself")
            return self.move_notebook(nb, self.ensure_notebook(path)[0].id)

    def rename_notebook(self, nb: Notebook, name: str) -> Notebook:
        with self._lock:
            name = clean_name(name, "notebook")
            self._refuse_twin(nb, name, nb.parent)
            renamed = dataclasses.replace(nb, name=name, modified=now_ms())
            written = self._write(renamed, self._parents(nb))
            assert isinstance(written, Notebook)
            return written

    def move_notebook(self, nb: Notebook, parent: str | None) -> Notebook:
        with self._lock:
            if parent is not None and parent in self.notebook_descendants(nb.id):
                raise InvalidInputError("a notebook cannot move inside itself")
            if parent is not None:
                self.notebook(parent)
            self._refuse_twin(nb, nb.name, parent)
            moved = dataclasses.replace(nb, parent=parent, modified=now_ms())
            written = self._write(moved, self._parents(nb))
            assert isinstance(written, Notebook)
            return written

    # --- tags ------------------------------------------------------------------------------------

    def tag_id(self, name: str) -> str:
        return folded_tag_id(self._tag_key, clean_tag(name).casefold())

    def _tag_map(self) -> dict[str, Tag]:
        with self._lock:
            self.refresh()
            return self._derive("tags", Tag)

    def _tags_by_name(self) -> dict[str, Tag]:
        """The registry by folded name. A tag's id is a keyed hash of its name, so a tag made
        under an earlier master key (before a rekey) has another id for the same name: the one
        under the current key wins, else the oldest, so every device picks the same."""
        with self._lock:
            by_id = self._tag_map()
            # Kept while no tag changes and the key is the same (the rank depends on it):
            # creating many notes asks once per note.
            stamp = (self._items.generation_of(Tag), self._tag_key)
            cached = self._derived.get("tags by name")
            if cached is not None and cached[0] == stamp:
                return cached[1]
            chosen: dict[str, Tag] = {}
            for tag in by_id.values():
                key = fold_tag(tag.name)
                here = chosen.get(key)
                if here is None or _rank(self, tag) < _rank(self, here):
                    chosen[key] = tag
            self._derived["tags by name"] = (stamp, chosen)
            return chosen

    def _register_tags(self, names: Iterable[str]) -> tuple[str, ...]:
        """Clean and de-duplicate tag names, using an existing tag's spelling, and record new
        tags in the registry."""
        tags = self._tags_by_name()  # shared: not changed here
        added: dict[str, Tag] = {}
        result: list[str] = []
        seen: set[str] = set()
        for raw in names:
            name = clean_tag(raw)
            key = name.casefold()
            if key in seen:
                continue
            seen.add(key)
            existing = added.get(key) or tags.get(key)
            if existing is None:
                existing = Tag(id=self.tag_id(name), name=name, created=now_ms())
                self._write(existing, [])
                added[key] = existing
            result.append(existing.name)
        return tuple(result)

    def _drop_tag_item(self, name: str) -> None:
        key = fold_tag(name)  # (a name from another device may not be one `clean_tag` takes)
        for tag in list(self._tag_map().values()):
            if fold_tag(tag.name) == key:  # every id the name had (see above)
                self._delete(tag)

    def _respell_tag(self, name: str) -> None:
        """The registry's tags of `name` (case aside) spelled `name` from now on."""
        key = fold_tag(name)
        for tag in list(self._tag_map().values()):
            if fold_tag(tag.name) == key and tag.name != name:
                self._write(dataclasses.replace(tag, name=name), self._parents(tag))


def fold_tag(name: str) -> str:
    """A tag name as compared; never fails, since a name from another device may not be one
    this device would accept."""
    return " ".join(name.strip().lstrip("#").split()).casefold()


def _rank(filing: Filing, tag: Tag) -> tuple[bool, int, str]:
    return (tag.id != folded_tag_id(filing._tag_key, fold_tag(tag.name)), tag.created, tag.id)


def folded_tag_id(tag_key: bytes, folded: str) -> str:
    """FORMAT.md's tag id: a keyed hash of the cleaned, case-folded name."""
    return crypto.blake2b(folded.encode("utf-8"), key=tag_key, size=16).hex()


def ordered_notebooks(by_id: dict[str, Notebook]) -> list[Notebook]:
    """Notebooks parents before children, siblings by name (`Filing.notebooks`)."""
    children: dict[str | None, list[Notebook]] = {}
    for nb in by_id.values():
        parent = nb.parent if nb.parent in by_id else None  # orphans show at the top
        children.setdefault(parent, []).append(nb)
    ordered: list[Notebook] = []
    seen: set[str] = set()

    def walk(parent: str | None) -> None:
        for nb in sorted(children.get(parent, []), key=lambda n: (n.name.casefold(), n.id)):
            if nb.id in seen:
                continue  # a cycle made by concurrent moves: show each notebook once
            seen.add(nb.id)
            ordered.append(nb)
            walk(nb.id)

    walk(None)
    # notebooks caught in a cycle with no way down from the top level
    for nb in sorted(by_id.values(), key=lambda n: n.name.casefold()):
        if nb.id not in seen:
            seen.add(nb.id)
            ordered.append(dataclasses.replace(nb, parent=None))
            walk(nb.id)
    return ordered


def notebook_path_in(by_id: dict[str, Notebook], notebook_id: str) -> str:
    """'Work/Projects' for a nested notebook, from these notebooks (`Filing.notebook_path`)."""
    names: list[str] = []
    seen: set[str] = set()
    current: str | None = notebook_id
    while current is not None and current in by_id and current not in seen:
        seen.add(current)
        names.append(by_id[current].name)
        current = by_id[current].parent
    return "/".join(reversed(names))
