"""The sidebar: all notes, pinned, notebooks as a tree, tags, and the trash, with counts."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from vault.tui.data import ALL, PINNED, TRASH, SidebarData, Target
from vault.tui.keys import SIDEBAR_KEYS, bindings
from vault.tui.messages import TargetChosen

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
        self._target_nodes: dict[Target, TreeNode[Entry]] = {}

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

    def show(self, data: SidebarData, chosen: Target) -> None:
        """Show `data`; rebuilt only when notebooks or tags changed, else relabelled in place so
        folding and the cursor stay where the person left them."""
        self._data = data
        self._chosen = chosen
        shape = (
            tuple((nb.id, nb.parent, nb.name) for nb in data.notebooks),
            tuple(t.name for t in data.tags),
        )
        if shape != self._shape or not self._target_nodes:
            self._rebuild(data)
            self._shape = shape
        else:
            self._relabel(data)
        node = self._target_nodes.get(chosen)
        if node is not None and self.cursor_node is not node:
            self.move_cursor(node, animate=False)

    def clear_all(self) -> None:
        """Forget every name (locking)."""
        self._target_nodes.clear()
        self._shape = ()
        self._data = SidebarData()
        self.clear()

    def _label(self, name: str, count: int | None, style: str = "") -> Text:
        text = Text(name, style=style)
        if count is not None:
            text.append(f" {count}", style="dim")
        return text

    def _labels(self, data: SidebarData) -> dict[Target, Text]:
        labels = {
            ALL: self._label("All notes", data.all, "bold"),
            PINNED: self._label("★ Pinned", data.pinned),
            TRASH: self._label("Trash", data.trash),
        }
        for nb in data.notebooks:
            labels[Target("notebook", nb.id)] = self._label(nb.name, nb.notes)
        for tag in data.tags:
            labels[Target("tag", tag.name)] = self._label(f"#{tag.name}", tag.notes)
        return labels

    def _rebuild(self, data: SidebarData) -> None:
        expanded = {
            t for t, node in self._target_nodes.items() if node.is_expanded and t.kind == "notebook"
        }
        first_build = not self._target_nodes
        labels = self._labels(data)
        self.clear()
        self._target_nodes = {}
        root = self.root
        for target in (ALL, PINNED):
            self._target_nodes[target] = root.add_leaf(labels[target], data=target)
        books = root.add(Text("Notebooks", style="bold"), data=_NOTEBOOKS, expand=True)
        parents: dict[str | None, TreeNode[Entry]] = {None: books}
        ids = {nb.id for nb in data.notebooks}
        children = {nb.parent for nb in data.notebooks}
        for nb in data.notebooks:
            target = Target("notebook", nb.id)
            parent = parents.get(nb.parent if nb.parent in ids else None, books)
            if nb.id in children:
                node = parent.add(labels[target], data=target)
                if first_build or target in expanded:
                    node.expand()
            else:
                node = parent.add_leaf(labels[target], data=target)
            parents[nb.id] = node
            self._target_nodes[target] = node
        if not data.notebooks:
            books.add_leaf(Text("(none: n adds one)", style="dim italic"), data=_NOTEBOOKS)
        tags = root.add(Text("Tags", style="bold"), data=_TAGS, expand=True)
        for tag in data.tags:
            target = Target("tag", tag.name)
            self._target_nodes[target] = tags.add_leaf(labels[target], data=target)
        if not data.tags:
            tags.add_leaf(Text("(none: ctrl+t)", style="dim italic"), data=_TAGS)
        self._target_nodes[TRASH] = root.add_leaf(labels[TRASH], data=TRASH)

    def _relabel(self, data: SidebarData) -> None:
        for target, label in self._labels(data).items():
            node = self._target_nodes.get(target)
            if node is not None:
                node.set_label(label)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Entry]) -> None:
        event.stop()
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
