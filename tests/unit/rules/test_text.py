"""Text clean-up behind R9 subjects and R3 descriptions: HTML to plain text, length limits."""

from __future__ import annotations

import pytest

from activity_sync.rules.text import html_to_text, truncate


def test_r9_html_becomes_one_line_of_plain_text() -> None:
    # Given HTML with tags, entities, a script and line breaks / When flattening / Then one clean line
    html = "<p>Hi&nbsp;<b>Ana</b>,</p><script>alert(1)</script><p>a &lt; b &amp; c</p>\n<br>bye"
    assert html_to_text(html) == "Hi Ana, a < b & c bye"


def test_r3_descriptions_keep_paragraphs_as_lines() -> None:
    # Given paragraphs and breaks with extra blank lines / When converting for a Description
    html = "<p>First   line</p>\n\n<p></p><div>Second<br/>Third</div>"
    # Then one line per paragraph or break, spaces collapsed, no blank lines
    assert html_to_text(html, keep_line_breaks=True) == "First line\nSecond\nThird"


@pytest.mark.parametrize("text", ["a < b and c > d", "plain text"])
def test_r9_plain_text_passes_through(text: str) -> None:
    # Given text that is not HTML / When converting / Then unchanged
    assert html_to_text(text) == text


@pytest.mark.parametrize(
    ("text", "limit", "expected"), [("abc", 3, "abc"), ("abcd", 3, "ab\u2026"), ("ab  cd", 4, "ab\u2026")]
)
def test_r9_truncate_marks_the_cut_with_an_ellipsis_within_the_limit(
    text: str, limit: int, expected: str
) -> None:
    # Given text longer than a limit / When truncating / Then at most `limit` characters, ellipsis at the cut
    assert truncate(text, limit) == expected


def test_r9_truncate_needs_room_for_at_least_one_character() -> None:
    # Given a limit of 0 / When truncating / Then a ValueError
    with pytest.raises(ValueError, match="at least 1"):
        truncate("abc", 0)
