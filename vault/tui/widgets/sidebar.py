"""The sidebar: all notes, pinned, notebooks as a tree, tags, and the trash, with counts.

Counts are kept apart from the names and drawn right-aligned in a dim column, so "Home 3"
never reads as "Home3"; a name too long for the width is cut with an ellipsis first.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from vault.tui.data import ALL, PINNED, TRASH, SidebarData, Target
from vault.tui.keys import SIDEBAR_KEYS, bindings
from vault.tui.messages import TargetChosen
from vault.tui.safetext import text as plain_text

_NOTEBOOKS = "notebooks"  # data of the two headings, which only fold and unfold
_TAGS = "tags"

Entry = Target | str


class Sidebar(Tree[Entry]):
    BINDINGS: ClassVar[list[BindingType]] = bindings(SIDEBAR_KEYS)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("vault", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False
        self._data = SidebarData()
        self._shape: tuple = ()
        self._chosen: Target = ALL
        # Set from a rebuild until the tree is laid out again: the cursor moves the rebuild
        # makes are not the person's choice (`_after_rebuild`).
        self._rebuilt_for: Target | None = None
        self._reveal = False
        self._target_nodes: dict[Target, TreeNode[Entry]] = {}
        self._counts: dict[int, str] = {}  # node id -> its count, drawn right-aligned

    @property
    def chosen(self) -> Target:
        return self._chosen

    @property
    def data_shown(self) -> SidebarData:
        return self._data

    @property
    def highlighted_target(self) -> Target | None:
        node = self.cursor_node
        return node.data if node is not None and isinstance(node.data, Target) else None

    def node_for(self, target: Target) -> TreeNode[Entry]:
        return self._target_nodes[target]

    def show(self, data: SidebarData, chosen: Target, *, reveal: bool = False) -> None:
        """Show `data`; rebuilt only when notebooks or tags changed, else relabelled in place so
        folding and the cursor stay where the person left them. With `reveal` (the view was
        just chosen: from the palette, say) the notebooks folded around `chosen` are unfolded
        for the cursor to go there; else the cursor only goes to a line already shown."""
        self._data = data
        self._chosen = chosen
        shape = (
            tuple((nb.id, nb.parent, nb.name) for nb in data.notebooks),
            tuple(t.name for t in data.tags),
            data.loading,
        )
        if shape != self._shape or not self._target_nodes:
            self._rebuild(data)
            self._shape = shape
            # A rebuilt tree has its lines only once drawn: until then the cursor cannot be
            # put on the chosen node, and stays on the first (All notes), which read as the
            # person choosing it. A notebook made or renamed elsewhere (another process, a
            # sync) turned the notebook on view into All notes.
            self._rebuilt_for = chosen
            self._reveal = reveal
            self.call_after_refresh(self._after_rebuild)
        else:
            self._relabel(data)
        self._cursor_to(self._target_nodes.get(chosen), reveal)

    def _after_rebuild(self) -> None:
        chosen, self._rebuilt_for = self._rebuilt_for, None
        self._cursor_to(
            self._target_nodes.get(chosen) if chosen is not None else None, self._reveal
        )

    def _cursor_to(self, node: TreeNode[Entry] | None, reveal: bool) -> None:
        if node is None or self.cursor_node is node:
            return
        # A line inside a folded notebook is not drawn, and the cursor cannot go there (it
        # went to the first line, All notes): a notebook chosen from the palette is unfolded
        # to; on a reload (a save, a sync) what the person folded stays folded.
        folded = [p for p in _ancestors(node) if not p.is_expanded]
        if folded and not reveal:
            return
        for parent in folded:
            parent.expand()
        if folded:  # (its line is there once the tree is laid out again)
            self.call_after_refresh(self.move_cursor, node, animate=False)
        else:
            self.move_cursor(node, animate=False)

    def clear_all(self) -> None:
        """Forget every name (locking)."""
        self._target_nodes.clear()
        self._counts.clear()
        self._shape = ()
        self._data = SidebarData()
        self.clear()

    def _labels(self, data: SidebarData) -> dict[Target, tuple[Text, int | None]]:
        # While the notes are still being read (`data.loading`), only how many in all is
        # known: the other counts are left out rather than shown as 0.
        known = not data.loading
        labels: dict[Target, tuple[Text, int | None]] = {
            ALL: (Text("All notes", style="bold"), data.all),
            PINNED: (Text("★ Pinned"), data.pinned if known else None),
            TRASH: (Text("Trash"), data.trash if known else None),
        }
        for nb in data.notebooks:
            labels[Target("notebook", nb.id)] = (plain_text(nb.name), nb.notes if known else None)
        for tag in data.tags:
            labels[Target("tag", tag.name)] = (plain_text(f"#{tag.name}"), tag.notes)
        return labels

    def _add(
        self, parent: TreeNode[Entry], label: tuple[Text, int | None], target: Target, leaf: bool
    ) -> TreeNode[Entry]:
        text, count = label
        node = parent.add_leaf(text, data=target) if leaf else parent.add(text, data=target)
        self._set_count(node, count)
        self._target_nodes[target] = node
        return node

    def render_label(self, node: TreeNode[Entry], base_style: Style, style: Style) -> Text:
        label = super().render_label(node, base_style, style)
        count = getattr(self, "_counts", {}).get(node.id)  # asked during __init__ too
        if count is None:
            return label
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        # Guides take two cells a level; one cell is left free on the right.
        room = self.scrollable_content_region.width - 2 * depth - 1
        name_room = room - len(count) - 1
        if name_room < 3:
            return label
        label.truncate(name_room, overflow="ellipsis")
        end = len(label)
        label.pad_right(room - len(count) - label.cell_len)
        label.append(count, style=Style(dim=True))
        label.stylize(style, end)  # the cursor's colours run on to the count
        return label

    def _rebuild(self, data: SidebarData) -> None:
        expanded = {
            t for t, node in self._target_nodes.items() if node.is_expanded and t.kind == "notebook"
        }
        first_build = not self._target_nodes
        labels = self._labels(data)
        self.clear()
        self._target_nodes = {}
        self._counts = {}
        root = self.root
        for target in (ALL, PINNED):
            self._add(root, labels[target], target, leaf=True)
        books = root.add(Text("Notebooks", style="bold"), data=_NOTEBOOKS, expand=True)
        parents: dict[str | None, TreeNode[Entry]] = {None: books}
        ids = {nb.id for nb in data.notebooks}
        children = {nb.parent for nb in data.notebooks}
        for nb in data.notebooks:
            target = Target("notebook", nb.id)
            parent = parents.get(nb.parent if nb.parent in ids else None, books)
            node = self._add(parent, labels[target], target, leaf=nb.id not in children)
            if nb.id in children and (first_build or target in expanded):
                node.expand()
            parents[nb.id] = node
        if not data.notebooks:
            books.add_leaf(Text("(none: n adds one)", style="dim italic"), data=_NOTEBOOKS)
        tags = root.add(Text("Tags", style="bold"), data=_TAGS, expand=True)
        for tag in data.tags:
            target = Target("tag", tag.name)
            self._add(tags, labels[target], target, leaf=True)
        if data.loading:
            tags.add_leaf(Text("(reading the notes…)", style="dim italic"), data=_TAGS)
        elif not data.tags:
            tags.add_leaf(Text("(none: ctrl+t)", style="dim italic"), data=_TAGS)
        self._add(root, labels[TRASH], TRASH, leaf=True)

    def _relabel(self, data: SidebarData) -> None:
        for target, (text, count) in self._labels(data).items():
            node = self._target_nodes.get(target)
            if node is not None:
                self._set_count(node, count)
                node.set_label(text)  # also redraws the count

    def _set_count(self, node: TreeNode[Entry], count: int | None) -> None:
        if count is None:
            self._counts.pop(node.id, None)
        else:
            self._counts[node.id] = f"{count:,}"

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Entry]) -> None:
        event.stop()
        if self._rebuilt_for is not None or event.node is not self.cursor_node:
            return  # the rebuild's own cursor, or a highlight the cursor has left since
        data = event.node.data
        if isinstance(data, Target) and data != self._chosen:
            self._chosen = data
            self.post_message(TargetChosen(data))

    def on_tree_node_selected(self, event: Tree.NodeSelected[Entry]) -> None:
        event.stop()
        data = event.node.data
        if isinstance(data, Target):
            self._chosen = data
            self.post_message(TargetChosen(data, confirmed=True))
        elif event.node.allow_expand:
            event.node.toggle()


def _ancestors(node: TreeNode[Entry]) -> list[TreeNode[Entry]]:
    """The nodes above `node`, the root left out."""
    found = []
    parent = node.parent
    while parent is not None and not parent.is_root:
        found.append(parent)
        parent = parent.parent
    return found
