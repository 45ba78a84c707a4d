"""Remember a read for a few seconds in this process: the one home of that rule (issue 17).

A `Memo` keeps a value per key for `seconds` (read from `chalicelib.clock`'s monotonic clock, so
tests move it). When a value lapses, one thread reads it again while the others answer from the
lapsed value; when nothing is remembered, they wait for that first read instead of all reading
at once (a surge's threads in one process). `forget(key)` / `forget_where(pred)` / `clear()`
drop values at once, after a local change: a read that began before is not remembered, and
everyone waits for a fresh read. A memo holds at most `size` keys (the oldest written go first),
so a crawler of every month or id cannot grow it, and `settings.reset()` clears every memo.

`get(key, read)` is the usual way in. `fresh` answers only a fresh value and reads nothing;
`claim` is for a memo of an answer the caller finds out itself (holds' "sold out"): when it
returns True the caller is the one looking again, and must end with `put` or `forget`.

Plain classes with `__slots__`, threading only: a booking's cold start imports this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from chalicelib import clock, settings

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

SIZE = 1000


class _Flight:
    """One thread's read of one key; the others waiting for it wait on `done`."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class Memo(Generic[K, V]):
    """Values per key for `seconds` (a number, or a function read at each look, so a module's
    named duration or a setting stays the one knob; 0 or less: nothing is remembered)."""

    __slots__ = ("_flights", "_lock", "_seconds", "_size", "_values")

    def __init__(self, seconds: float | Callable[[], float], *, size: int = SIZE) -> None:
        self._seconds = seconds
        self._size = size
        self._lock = threading.Lock()
        self._values: dict[K, tuple[float, V]] = {}  # key -> (read at, value)
        self._flights: dict[K, _Flight] = {}  # key -> the read under way
        settings.on_reset(self.clear)

    def seconds(self) -> float:
        return self._seconds() if callable(self._seconds) else self._seconds

    def get(self, key: K, read: Callable[[], V], *, max_age: float | None = None) -> V:
        """The remembered value if fresh (younger than `max_age`, by default `seconds`); else one
        thread calls `read` and remembers its answer, while the others answer from the lapsed
        value, or, with none, wait for that read. A caller naming `max_age` never answers from a
        value older than that: it waits for the read under way. A read that raises remembers
        nothing; a waiting thread then tries in its turn."""
        age = self.seconds() if max_age is None else max_age
        if self.seconds() <= 0:
            return read()
        while True:
            with self._lock:
                found = self._values.get(key)
                if found is not None and clock.monotonic() - found[0] < age:
                    return found[1]
                flight = self._flights.get(key)
                mine = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if mine:
                return self._read(key, flight, read)
            if found is not None and max_age is None:
                return found[1]  # lapsed, and another thread is reading it now
            flight.done.wait()  # nothing to answer from: the first read, then look again

    def _read(self, key: K, flight: _Flight, read: Callable[[], V]) -> V:
        try:
            value = read()
        except BaseException:
            self._land(key, flight)
            raise
        self._land(key, flight, (value,))
        return value

    def _land(self, key: K, flight: _Flight, answer: tuple[V] | None = None) -> None:
        """A read ended: remembered if it answered and was not forgotten meanwhile; waiters go on."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
                if answer is not None:
                    self._store(key, answer[0])
        flight.done.set()

    def fresh(self, key: K, *, max_age: float | None = None) -> V | None:
        """The remembered value if fresh, else None; reads nothing."""
        age = self.seconds() if max_age is None else max_age
        with self._lock:
            found = self._values.get(key)
        return found[1] if found is not None and clock.monotonic() - found[0] < age else None

    def claim(self, key: K) -> tuple[V | None, bool]:
        """What to answer, and whether the caller is to find it out again: the fresh value (False);
        a lapsed one while another thread looks (False); a lapsed one nobody looks at yet (True:
        the caller looks, and ends with `put` or `forget`); nothing remembered (None, False: no
        memo, everyone looks)."""
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None, False
            if clock.monotonic() - found[0] < self.seconds() or key in self._flights:
                return found[1], False
            self._flights[key] = _Flight()
            return found[1], True

    def put(self, key: K, value: V) -> None:
        """Remember a value read or made here (newer than any read under way, which is dropped)."""
        if self.seconds() <= 0:
            return
        with self._lock:
            flight = self._flights.pop(key, None)
            self._store(key, value)
        if flight is not None:
            flight.done.set()

    def _store(self, key: K, value: V) -> None:
        """Under the lock: the value, the oldest written dropped while the memo is full."""
        self._values.pop(key, None)  # written again: it is the newest
        while len(self._values) >= self._size:
            del self._values[next(iter(self._values))]
        self._values[key] = (clock.monotonic(), value)

    def forget(self, key: K) -> None:
        """Changed here: the next caller reads it again (a read under way is not remembered)."""
        with self._lock:
            self._values.pop(key, None)
            flight = self._flights.pop(key, None)
        if flight is not None:
            flight.done.set()  # its waiters read again rather than wait for an old read

    def forget_where(self, pred: Callable[[K], bool]) -> None:
        """Forget every key `pred` names."""
        with self._lock:
            for key in [k for k in self._values if pred(k)]:
                del self._values[key]
            flights = [self._flights.pop(k) for k in [k for k in self._flights if pred(k)]]
        for flight in flights:
            flight.done.set()  # its waiters read again rather than wait for an old read

    def clear(self) -> None:
        """Forget everything (and `settings.reset()`)."""
        self.forget_where(lambda _: True)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
