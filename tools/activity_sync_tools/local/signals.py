"""Waiting for Ctrl-C or SIGTERM in the foreground commands (``local up``, ``sandbox``)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_signals() -> Iterator[Callable[[], None]]:
    """Catch SIGINT and SIGTERM from now on (so a signal sent the moment "Ready." is printed is
    not lost) and give a function that blocks until one arrives; the previous handlers come back
    on the way out."""
    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stop_requested.set()

    def wait() -> None:
        # A timed wait, so the handler always gets the main thread between waits.
        while not stop_requested.wait(0.5):
            pass

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield wait
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
