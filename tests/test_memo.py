"""The memo helper (chalicelib/memo.py), on the test's clock: time moves only when a test moves
it, and the single-flight cases hold a read open with an Event (no sleeps, no wall clock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import clock, settings
from chalicelib.memo import Memo

pytestmark = pytest.mark.fast


class Reads:
    """A read that counts its calls and answers the next number; `hold()` keeps the next one open."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release: threading.Event | None = None
        self.fail = False

    def hold(self) -> threading.Event:
        self.started.clear()
        self.release = threading.Event()
        return self.release

    def __call__(self) -> int:
        self.calls += 1
        answer, fail = self.calls, self.fail  # as things stood when the read began
        release, self.release = self.release, None
        if release is not None:
            self.started.set()
            assert release.wait(30)
        if fail:
            raise RuntimeError("read failed")
        return answer


def test_a_value_is_remembered_until_it_lapses() -> None:
    memo: Memo[str, int] = Memo(5.0)
    read = Reads()
    assert memo.get("a", read) == 1
    clock.sleep(4.9)
    assert memo.get("a", read) == 1 and memo.fresh("a") == 1
    clock.sleep(0.2)
    assert memo.fresh("a") is None
    assert memo.get("a", read) == 2 and read.calls == 2


def test_the_duration_is_read_at_each_look_and_zero_remembers_nothing() -> None:
    seconds = [5.0]
    memo: Memo[str, int] = Memo(lambda: seconds[0])
    read = Reads()
    assert memo.get("a", read) == 1
    seconds[0] = 0.0
    assert memo.get("a", read) == 2 and memo.get("a", read) == 3
    memo.put("a", 9)
    assert len(memo) == 0 or memo.fresh("a") is None


def test_a_shorter_max_age_reads_again_sooner() -> None:
    memo: Memo[str, int] = Memo(2.0)
    read = Reads()
    memo.get("a", read)
    clock.sleep(1.5)
    assert memo.get("a", read) == 1
    assert memo.get("a", read, max_age=1.0) == 2
    assert memo.fresh("a", max_age=1.0) == 2


def test_a_caller_naming_max_age_waits_for_the_read_under_way_rather_than_answer_older() -> None:
    """The waiting room's refused hold looks again: never from the state it was refused by."""
    memo: Memo[str, int] = Memo(2.0)
    read = Reads()
    memo.get("a", read)
    clock.sleep(2.5)
    release = read.hold()
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(memo.get, "a", read)
        assert read.started.wait(30)
        assert memo.get("a", read) == 1  # the usual caller: the lapsed value
        strict = pool.submit(memo.get, "a", read, max_age=1.0)
        assert not strict.done()
        release.set()
        assert first.result(timeout=30) == 2 and strict.result(timeout=30) == 2
    assert read.calls == 2


def test_forget_forget_where_and_clear() -> None:
    memo: Memo[tuple[str, int], int] = Memo(60.0)
    for key in [("x", 1), ("x", 2), ("y", 1)]:
        memo.put(key, key[1])
    memo.forget(("x", 1))
    assert memo.fresh(("x", 1)) is None and memo.fresh(("x", 2)) == 2
    memo.forget_where(lambda key: key[0] == "x")
    assert memo.fresh(("x", 2)) is None and memo.fresh(("y", 1)) == 1
    memo.clear()
    assert len(memo) == 0


def test_settings_reset_clears_every_memo() -> None:
    memo: Memo[str, int] = Memo(60.0)
    memo.put("a", 1)
    settings.reset()
    assert memo.fresh("a") is None


def test_it_holds_at_most_its_size_the_oldest_written_going_first() -> None:
    memo: Memo[int, int] = Memo(60.0, size=3)
    for key in range(3):
        memo.put(key, key)
    memo.put(0, 10)  # written again: now the newest
    memo.put(3, 3)
    assert len(memo) == 3
    assert memo.fresh(1) is None and [memo.fresh(k) for k in (0, 2, 3)] == [10, 2, 3]


def test_a_read_that_fails_remembers_nothing() -> None:
    memo: Memo[str, int] = Memo(5.0)
    read = Reads()
    read.fail = True
    with pytest.raises(RuntimeError):
        memo.get("a", read)
    read.fail = False
    assert memo.get("a", read) == 2


def _crowd(memo: Memo[str, int], read: Callable[[], int], pool: ThreadPoolExecutor, n: int = 8) -> list[int]:
    return [f.result(timeout=30) for f in [pool.submit(memo.get, "a", read) for _ in range(n)]]


def test_when_it_lapses_one_thread_reads_and_the_others_answer_from_the_old_value() -> None:
    memo: Memo[str, int] = Memo(5.0)
    read = Reads()
    memo.get("a", read)
    clock.sleep(6)
    release = read.hold()
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(memo.get, "a", read)
        assert read.started.wait(30)
        assert _crowd(memo, read, pool) == [1] * 8  # not one more read
        release.set()
        assert first.result(timeout=30) == 2
    assert read.calls == 2 and memo.get("a", read) == 2


def test_with_nothing_remembered_the_others_wait_for_the_first_read() -> None:
    memo: Memo[str, int] = Memo(5.0)
    read = Reads()
    release = read.hold()
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(memo.get, "a", read)
        assert read.started.wait(30)
        waiting = [pool.submit(memo.get, "a", read) for _ in range(8)]
        assert not any(f.done() for f in waiting)
        release.set()
        assert first.result(timeout=30) == 1
        assert [f.result(timeout=30) for f in waiting] == [1] * 8
    assert read.calls == 1


def test_after_forget_nobody_answers_from_a_read_that_began_before() -> None:
    """A closure started here: its range refuses holds from the moment its POST returns."""
    memo: Memo[str, int] = Memo(5.0)
    read = Reads()
    memo.get("a", read)
    clock.sleep(6)
    release = read.hold()
    with ThreadPoolExecutor(9) as pool:
        old_read = pool.submit(memo.get, "a", read)
        assert read.started.wait(30)
        memo.forget("a")
        assert memo.get("a", read) == 3  # not the lapsed 1, nor the read under way
        release.set()
        assert old_read.result(timeout=30) == 2  # its own caller asked before the change
    assert memo.get("a", read) == 3 and read.calls == 3


def test_the_waiters_of_a_failed_read_read_in_turn() -> None:
    memo: Memo[str, int] = Memo(5.0)
    read = Reads()
    read.fail = True
    release = read.hold()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(memo.get, "a", read)
        assert read.started.wait(30)
        waiting = [pool.submit(memo.get, "a", read) for _ in range(3)]
        read.fail = False
        release.set()
        with pytest.raises(RuntimeError):
            first.result(timeout=30)
        assert [f.result(timeout=30) for f in waiting] == [2] * 3
    assert read.calls == 2


def test_claim_one_looks_again_while_the_others_are_told() -> None:
    memo: Memo[str, bool] = Memo(2.0)
    assert memo.claim("a") == (None, False)  # nothing remembered: everyone looks
    memo.put("a", True)
    assert memo.claim("a") == (True, False)  # fresh
    clock.sleep(2.1)
    assert memo.claim("a") == (True, True)  # lapsed: this one looks
    assert memo.claim("a") == (True, False)  # meanwhile the others are told
    memo.put("a", True)  # it looked: still so
    clock.sleep(2.1)
    assert memo.claim("a") == (True, True)
    memo.forget("a")  # it looked: no longer so
    assert memo.claim("a") == (None, False)
