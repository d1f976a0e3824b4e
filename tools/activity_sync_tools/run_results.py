"""Where a measuring run (``make bench``, ``make chaos``) keeps its figures: one JSON file per run
in a results folder, named by the run's UTC start, and optionally one more file the caller names."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any


def add_result_arguments(parser: argparse.ArgumentParser, default_dir: Path, what: str) -> None:
    """``--json PATH`` and ``--results-dir DIR``."""
    parser.add_argument("--json", type=Path, default=None, help=f"also write the {what} to this file")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=default_dir,
        help="where each run's JSON goes, named by its UTC start (default: %(default)s)",
    )


def write_results(
    document: Any, results_dir: Path, started: dt.datetime, also: Path | None = None
) -> list[Path]:
    """Write ``document`` as JSON to ``results_dir/<UTC start>.json`` (and to ``also``); the paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = [results_dir / f"{started:%Y%m%dT%H%M%SZ}.json"]
    if also is not None:
        also.parent.mkdir(parents=True, exist_ok=True)
        paths.append(also)
    text = json.dumps(document, indent=2, default=str) + "\n"
    for path in paths:
        path.write_text(text, encoding="utf-8")
    return paths
