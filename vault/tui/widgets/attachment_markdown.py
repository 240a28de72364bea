"""The Markdown preview, with `![alt](attachment:NAME)` drawn as the attached image.

A paragraph that holds only attachment images (the usual way to put a picture in a note) shows
each one in the terminal (vault/tui/widgets/image_view.py), or one line naming it while it
loads, when it is not on this device yet, or when it cannot be drawn. The images come from the
screen's `ImageCache`, decrypted to memory only. An image inside running text stays a marker
in the text, as Textual draws it.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownBlock, MarkdownParagraph

from vault.notes.attachments import parse_attachment_link
from vault.tui.safetext import content
from vault.tui.widgets.image_view import ImageCache, ImageView


def attachment_images(token: object) -> list[tuple[str, str]] | None:
    """(alt, name) of each attachment image when an inline token holds only such images
    (and the spaces or line breaks between them); None for anything else."""
    children = getattr(token, "children", None)
    if not children:
        return None
    found: list[tuple[str, str]] = []
    for child in children:
        if child.type == "image":
            name = parse_attachment_link(str(child.attrs.get("src", "")))
            if name is None:
                return None
            alt = "".join(grandchild.content for grandchild in child.children or [])
            found.append((alt, name))
        elif child.type in ("softbreak", "hardbreak") or (
            child.type == "text" and not child.content.strip()
        ):
            continue
        else:
            return None
    return found or None


class PreviewImage(Vertical):
    """One attached image in the preview, or the line that stands for it."""

    DEFAULT_CSS = """
    PreviewImage {
        height: auto;
        width: 1fr;
    }
    PreviewImage > .preview-image {
        height: 12;
        width: auto;
    }
    PreviewImage > .preview-image-line {
        color: $text-muted;
        text-style: italic;
    }
    """

    def __init__(self, name: str, alt: str, images: ImageCache | None) -> None:
        super().__init__()
        self.attachment_name = name
        self._alt = alt
        self._images = images

    def compose(self) -> ComposeResult:
        loaded = self._images.get(self.attachment_name) if self._images is not None else None
        if loaded is not None and loaded.image is not None:
            view = ImageView(loaded.image, classes="preview-image")
            view.tooltip = content(self._alt or self.attachment_name)
            yield view
            return
        if loaded is None:
            why = "loading…" if self._images is not None else "not shown"
        else:
            why = loaded.reason
        yield Static(placeholder(self.attachment_name, why), classes="preview-image-line")


def placeholder(name: str, why: str) -> Content:
    """The line that stands for an image: its name (text, never markup) and why."""
    return Content.assemble("🖼 ", content(name), Content.styled(f"  ({why})", "$text-muted"))


class AttachmentParagraph(MarkdownParagraph):
    def build_from_token(self, token) -> None:  # type: ignore[no-untyped-def]
        images = attachment_images(token)
        markdown = self._markdown
        if images is None or not isinstance(markdown, AttachmentMarkdown):
            super().build_from_token(token)
            return
        self._inline_token = token
        self.set_content(Content(""))
        for alt, name in images:
            self._blocks.append(PreviewImage(name, alt, markdown.images))  # type: ignore[arg-type]

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        # A paragraph of images is built anew rather than patched with another's text.
        if self.query(PreviewImage) or block._blocks:
            await MarkdownBlock._update_from_block(self, block)
        else:
            await super()._update_from_block(block)


class AttachmentMarkdown(Markdown):
    """`Markdown` whose image paragraphs draw the note's attached images."""

    BLOCKS: ClassVar[dict[str, type[MarkdownBlock]]] = {
        **Markdown.BLOCKS,
        "paragraph_open": AttachmentParagraph,
    }

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.images: ImageCache | None = None
