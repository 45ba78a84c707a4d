"""A closure refuses holds and bookings across its whole range at once.

A closure closes its slots day by day (booking/closures.py), in the request and then in the
background; until it is done, the slots it has not reached yet are still open in storage. So
the paths that take a place (holds, bookings, reschedules) also ask here: is this slot covered
by a closure that is still running (`Closure.covers`, the rule's one home)? A finished closure
needs no asking: its slots are closed.

The running closures are one small index read, remembered for MEMO_SECONDS in this process and
forgotten at once when this process starts or finishes a closure (so locally a hold is refused
from the moment the closure's POST returns; another Lambda container learns within the memo and
one read). As with every memo (chalicelib/memo.py), one thread of a process reads them when the
memo lapses; a crowd arriving meanwhile answers from the lapsed list instead of reading it too
(a surge's threads all at once, issue 17). After `forget` nobody answers from an old list: they
wait for the read.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.closures import Closure
from chalicelib.memo import Memo
from chalicelib.storage import staffwork

MEMO_SECONDS = 5.0
READ = 200  # running closures read at most (there are a handful)

_memo: Memo[str, list[Closure]] = Memo(lambda: MEMO_SECONDS)


def running() -> list[Closure]:
    return _memo.get("running", lambda: staffwork.unfinished_closures(READ))


def closed(timebook_id: str, location_id: str, start: datetime) -> bool:
    """A running closure of this timebook covers a slot at this location and start."""
    return any(c.timebook_id == timebook_id and c.covers(location_id, start) for c in running())


def forget() -> None:
    """A closure started or finished here: nobody answers from the old list, all wait for a read."""
    _memo.clear()
