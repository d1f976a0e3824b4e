"""How the operator's commands print: rich tables for people, JSON for scripts (``--json``), and
progress bars on stderr (so that stdout stays the answer, whatever the terminal)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

# Wide enough for an 18-character id, a type key and a reason side by side when stdout is a file
# or a pipe (rich would assume 80 columns).
PIPED_WIDTH = 140


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream, width=None if stream.isatty() else PIPED_WIDTH, highlight=False, soft_wrap=False
    )


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, lines: bool = False
) -> Table:
    """A table whose number columns (named with a leading ``#``) are right-aligned; ``lines``
    separates rows whose cells hold several lines."""
    shown = Table(
        title=title, title_justify="left", title_style="bold", header_style="bold", show_lines=lines
    )
    for column in columns:
        numeric = column.startswith("#")
        shown.add_column(column.removeprefix("#"), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        shown.add_row(*("-" if cell is None or cell == "" else str(cell) for cell in row))
    return shown


def progress(*, quiet: bool = False) -> Progress:
    """A progress display on stderr; ``quiet`` (``--json``) shows nothing."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console(stderr=True),
        disable=quiet,
        transient=False,
    )
