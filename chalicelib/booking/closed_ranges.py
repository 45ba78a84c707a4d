"""A closure refuses holds and bookings across its whole range at once.

A closure closes its slots day by day (booking/closures.py), in the request and then in the
background; until it is done, the slots it has not reached yet are still open in storage. So
the paths that take a place (holds, bookings, reschedules) also ask here: is this slot covered
by a closure that is still running (`Closure.covers`, the rule's one home)? A finished closure
needs no asking: its slots are closed.

The running closures are one small index read, remembered for MEMO_SECONDS in this process and
forgotten at once when this process starts or finishes a closure (so locally a hold is refused
from the moment the closure's POST returns; another Lambda container learns within the memo and
one read). One thread of a process reads them when the memo lapses; a crowd arriving meanwhile
answers from the lapsed list instead of reading it too (a surge's threads all at once, issue 17).
After `forget` nobody answers from an old list: they wait for the read.
"""

from __future__ import annotations

import threading
from datetime import datetime

from chalicelib import clock, settings
from chalicelib.domain.closures import Closure
from chalicelib.storage import staffwork

MEMO_SECONDS = 5.0
READ = 200  # running closures read at most (there are a handful)

_lock = threading.Lock()
_reading = threading.Lock()  # held by the one thread reading the index
_memo: tuple[float, list[Closure]] | None = None
_forgotten = 0  # bumped by `forget`: a read that began before it is not remembered


def running() -> list[Closure]:
    global _memo
    with _lock:
        memo = _memo
    if memo is not None and memo[0] > clock.monotonic():
        return memo[1]
    if memo is not None and not _reading.acquire(blocking=False):
        return memo[1]  # lapsed, and another thread is reading them now
    if memo is None:
        _reading.acquire()  # nothing to answer from: wait for the thread reading, if any
    try:
        with _lock:
            memo, began = _memo, _forgotten
        if memo is not None and memo[0] > clock.monotonic():
            return memo[1]  # read by the thread waited for
        found = staffwork.unfinished_closures(READ)
        with _lock:
            if _forgotten == began:
                _memo = (clock.monotonic() + MEMO_SECONDS, found)
        return found
    finally:
        _reading.release()


def closed(timebook_id: str, location_id: str, start: datetime) -> bool:
    """A running closure of this timebook covers a slot at this location and start."""
    return any(c.timebook_id == timebook_id and c.covers(location_id, start) for c in running())


@settings.on_reset
def forget() -> None:
    """A closure started or finished here (and tests: nothing cached stays)."""
    global _memo, _forgotten
    with _lock:
        _memo = None
        _forgotten += 1
