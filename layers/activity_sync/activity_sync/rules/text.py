"""Text clean-up shared by the subject (R9) and task (R3) rules: HubSpot bodies are HTML, Salesforce
subjects and descriptions are plain text with length limits."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from activity_sync.json_fields import LONE_SURROGATE

ELLIPSIS = "\u2026"
REPLACEMENT_CHARACTER = "\ufffd"

# Tags after which a reader sees a new line.
_BREAKING_TAGS = frozenset(
    {
        "br",
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "hr",
    }
)
_INVISIBLE_TAGS = frozenset({"script", "style", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._invisible_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self._invisible_depth += 1
        elif tag in _BREAKING_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self._invisible_depth = max(0, self._invisible_depth - 1)
        elif tag in _BREAKING_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._invisible_depth:
            self.parts.append(data)


def html_to_text(value: str, *, keep_line_breaks: bool = False) -> str:
    """Plain text of an HTML (or plain) string: tags removed, entities decoded, whitespace collapsed.
    With `keep_line_breaks`, paragraphs and line breaks survive as single newlines."""
    extractor = _TextExtractor()
    extractor.feed(value)
    extractor.close()
    text = "".join(extractor.parts).replace("\xa0", " ")
    if not keep_line_breaks:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{2,}", "\n", "\n".join(lines)).strip()


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def unicode_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD: what a vendor sends is copied on even
    when a stray escape in its JSON makes part of it unreadable, rather than failing its batch."""
    return LONE_SURROGATE.sub(REPLACEMENT_CHARACTER, text)
