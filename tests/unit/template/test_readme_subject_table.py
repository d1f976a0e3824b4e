"""R9: the README's subject table is the code's default table, row for row."""

from __future__ import annotations

from pathlib import Path

from activity_sync.rules.subjects import DEFAULT_SUBJECT_TEMPLATES

README = Path(__file__).resolve().parents[3] / "README.md"


def test_r9_readme_documents_every_default_subject_template() -> None:
    text = README.read_text()
    table = text.split("<!-- subject-table:start -->")[1].split("<!-- subject-table:end -->")[0]
    rows = table.strip().splitlines()[2:]
    expected = [
        f"| `{row.key.key}` | `{row.template}` | {row.description} | {row.example} |"
        for row in DEFAULT_SUBJECT_TEMPLATES
    ]
    assert rows == expected
