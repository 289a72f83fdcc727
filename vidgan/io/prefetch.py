"""Run a producer in a background thread, a bounded number of items ahead of its consumer."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

#: How often a producer blocked on a full queue looks whether its consumer has gone (seconds).
_STOP_POLL = 0.05


def prefetched(produce: Callable[[], Generator[T, None, None]], depth: int) -> Iterator[T]:
    """Yield the items of ``produce()``, which runs in a background thread at most ``depth`` items
    ahead of the caller, so producing overlaps with whatever the caller does with each item.

    The producer's exception is raised here after the items it made before it. Closing this
    generator (leaving a ``for`` loop early, or garbage collection) stops the producer at its next
    item, closes it and waits for the thread. Worth it when the producer spends its time outside
    the GIL, as FFmpeg's decoder does.
    """
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    items: queue.Queue[tuple[bool, object]] = queue.Queue(depth)
    stopped = threading.Event()

    def offer(entry: tuple[bool, object]) -> bool:
        while not stopped.is_set():
            try:
                items.put(entry, timeout=_STOP_POLL)
                return True
            except queue.Full:
                pass
        return False

    def run() -> None:
        try:
            with contextlib.closing(produce()) as source:
                for item in source:
                    if not offer((True, item)):
                        return
            offer((False, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            offer((False, error))

    thread = threading.Thread(target=run, name="vidgan-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            is_item, value = items.get()
            if is_item:
                yield value  # type: ignore[misc]
            elif value is None:
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        stopped.set()
        thread.join()
