"""prefetched: a producer thread a bounded number of items ahead; its errors; leaving early."""

from __future__ import annotations

import threading
import time

import pytest

from vidgan.io.prefetch import prefetched


def test_items_arrive_in_order_and_the_producer_runs_ahead_by_at_most_depth():
    made: list[int] = []

    def produce():
        for item in range(40):
            made.append(item)
            yield item

    seen, leads = [], []
    for item in prefetched(produce, depth=3):
        time.sleep(0.002)  # a slow consumer: the producer fills the queue meanwhile
        leads.append(len(made) - len(seen))
        seen.append(item)
    assert seen == list(range(40))
    # depth items queued, plus the one just handed over and one waiting to be queued
    assert max(leads) == 3 + 2


def test_the_producers_error_is_raised_after_its_items():
    def produce():
        yield 1
        yield 2
        raise ValueError("packet 3 does not decode")

    items = prefetched(produce, depth=4)
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(ValueError, match="packet 3"):
        next(items)


def test_leaving_early_stops_and_closes_the_producer_and_its_thread():
    closed = threading.Event()
    made: list[int] = []

    def produce():
        try:
            for item in range(10**6):
                made.append(item)
                yield item
        finally:
            closed.set()

    threads = threading.active_count()
    items = prefetched(produce, depth=2)
    assert next(items) == 0
    items.close()
    assert closed.is_set() and len(made) <= 2 + 2
    assert threading.active_count() == threads


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        next(prefetched(lambda: (item for item in ()), depth=0))
