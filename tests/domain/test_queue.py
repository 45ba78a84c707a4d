"""The waiting room's and the waves' rules (domain/queue.py), without storage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.identity import birth_date
from chalicelib.domain.queue import (
    MILEPOSTS,
    MIN_POLL_SECONDS,
    NotOpenYet,
    RoomState,
    Ticket,
    WaitingRoom,
    Wave,
    new_arrival,
    next_rate,
    person_hash,
    read_ticket,
    require_admitted,
    require_wave_open,
    sign_ticket,
    step,
    wave_opens_at,
)
from chalicelib.errors import Forbidden
from tests.factories import make_pid

KEY = b"k" * 32
ROOM = WaitingRoom(True, 60)
T0 = 1_900_000_000

# ---- admission keeps arrival order ---------------------------------------------------------------

# A history: arrivals (how many, in one millisecond or spread) and admission steps (seconds since
# the last, whether load was shed), in any interleaving.
_events = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.integers(1, 30), st.integers(0, 50)),
        st.tuples(st.just("step"), st.integers(0, 400), st.booleans()),
    ),
    max_size=40,
)


@given(_events, st.integers(1, 200))
def test_any_interleaving_of_arrivals_and_steps_admits_in_arrival_order(events, rate):
    setting = WaitingRoom(True, rate)
    state, now_ms, shed = RoomState(), T0 * 1000, 0
    arrived: list[int] = []
    first_step: float | None = None
    for kind, a, b in events:
        if kind == "arrive":
            for _ in range(a):
                now_ms += b
                arrived.append(new_arrival(now_ms, arrived[-1] if arrived else -1))
            continue
        now_ms += a * 1000
        shed += int(b)
        now = now_ms / 1000
        waiting = sorted(n for n in arrived if n > state.admitted_up_to)
        before = state
        state = step(state, waiting, setting, now, shed)
        first_step = now if first_step is None else first_step
        order = sorted(arrived)
        for later in (0.0, 0.25, 0.5, 1.0, 3.7, 10.0, 60.0, 200.0):  # whenever a process looks after the step
            t = now + later
            assert state.up_to(t) >= before.up_to(t)  # never taken back, no promised turn moved later
            admitted = [n for n in order if state.admitted(n, t)]
            assert order[: len(admitted)] == admitted, "the admitted are a prefix of the arrivals"
            # Never more than the rate allows: a minute's worth at the first step, then by the clock.
            assert len(admitted) <= rate * ((t - first_step) / 60 + 1) + 1
        # A poll's position counts the waiting ahead, exactly while they fit in the mileposts.
        rest = [n for n in order if not state.admitted(n, now)]
        if len(rest) <= MILEPOSTS:
            assert [state.position(n, now) for n in rest] == list(range(1, len(rest) + 1))
        assert all(state.position(n, now) == 0 for n in order if state.admitted(n, now))


def test_turns_spread_a_steps_share_over_time_and_poll_answers_name_the_second():
    waiting = list(range(100, 300))
    state = step(RoomState(stepped_at=T0 - 60), waiting, WaitingRoom(True, 120), T0, 0)
    assert state.admitted_up_to == -1  # nobody at once: the minute since the room opened is owed
    # ... and paid at twice the rate for a minute, two a turn every half second, then one a turn.
    turns = [state.turn(n) for n in (100, 101, 102, 219, 220, 299)]
    assert turns == [T0 + t for t in (0.5, 0.5, 1, 30, 30.5, 50)]
    assert not state.admitted(220, T0 + 30.49) and state.admitted(220, T0 + 30.5)
    waiting_one = state.standing(227, WaitingRoom(True, 120), T0 + 30.2)
    assert (waiting_one.position, waiting_one.estimated_wait_seconds, waiting_one.poll_after_seconds) == (8, 2, 2)
    assert state.standing(227, WaitingRoom(True, 120), T0 + 31.7).poll_after_seconds == 1
    assert state.standing(227, WaitingRoom(True, 120), T0 + 32.0).state == "admitted"
    assert state.standing(299, WaitingRoom(True, 120), T0).poll_after_seconds == 30  # far off: not every second


def test_a_step_keeps_the_turns_it_planned_and_shed_load_slows_only_the_next():
    setting = WaitingRoom(True, 120)
    state = step(RoomState(stepped_at=T0 - 5), list(range(1000)), setting, T0, 0)  # steps 5 s apart: 10 s ahead
    assert state.up_to(T0 + 5) == 19 and state.turn(29) == T0 + 10.0 and state.turn(30) is None
    later = step(state, list(range(1000)), setting, T0 + 5, 1)  # load shed meanwhile: 60 a minute
    assert later.admitted_up_to == 19 and later.rate_per_minute == 60
    assert all(later.turn(n) == state.turn(n) for n in range(20, 30))  # promised turns stay
    assert later.turn(30) == T0 + 11.0 and later.turn(31) == T0 + 12.0 and later.turn(34) == T0 + 15.0
    late = step(later, list(range(20, 1000)), setting, T0 + 40, 2)  # late, and shed again: 30 a minute
    assert late.admitted_up_to == 34 and late.up_to(T0 + 41) == 35  # the 25 s no turn covered, owed
    assert late.up_to(T0 + 65) == 34 + 25  # and paid at twice the rate


@pytest.mark.parametrize("every", [1, 5, 60])  # the bench, `make run`, AWS
def test_pollers_who_do_as_told_see_their_turn_within_a_second_and_poll_little(every):
    """300 join at once at 120 a minute, every poller waits `poll_after_seconds` as told, the
    schedule steps every `every` seconds: a planned turn is seen less than a second after it
    comes (the answer is whole seconds); a catch-up at a step within a poll; few polls each."""
    import heapq
    from collections import Counter

    setting, people = WaitingRoom(True, 120), list(range(1_000, 1_300))
    state, steps_at = RoomState(stepped_at=T0), T0 + every
    admitted_at: dict[int, tuple[float, bool]] = {}  # when, and whether by a planned turn
    seen_at: dict[int, float] = {}
    polled: Counter[int] = Counter()
    polls = [(T0 + state.standing(n, setting, T0).poll_after_seconds, n) for n in people]
    heapq.heapify(polls)
    while polls:
        t, n = heapq.heappop(polls)
        while steps_at <= t:
            for m in people:
                turn = state.turn(m)
                if m not in admitted_at and turn is not None and turn <= steps_at:
                    admitted_at[m] = (turn, True)
            state = step(state, [m for m in people if m > state.admitted_up_to], setting, steps_at, 0)
            admitted_at.update(
                {m: (steps_at, False) for m in people if m not in admitted_at and state.admitted(m, steps_at)}
            )
            steps_at += every
        answer = state.standing(n, setting, t)
        polled[n] += 1
        if answer.state == "admitted":
            seen_at[n] = t
            admitted_at.setdefault(n, (state.turn(n), True))  # a turn since the last step
            continue
        heapq.heappush(polls, (t + answer.poll_after_seconds, n))
    lags = {n: seen_at[n] - admitted_at[n][0] for n in people}
    assert max(lag for n, lag in lags.items() if admitted_at[n][1]) < 1.0
    assert max(lags.values()) <= MIN_POLL_SECONDS
    # Few polls: 6-7 each; where steps are a minute apart, 30 more in the minute before the first
    # step, when nobody's place is known yet.
    assert sum(polled.values()) / len(people) <= {1: 8, 5: 8, 60: 8 + 30}[every]


def test_arrivals_of_one_process_are_in_order_even_within_a_millisecond():
    numbers = [new_arrival(T0 * 1000)]
    for _ in range(2000):
        numbers.append(new_arrival(T0 * 1000, numbers[-1]))
    assert numbers == sorted(set(numbers))
    assert new_arrival(T0 * 1000 + 1) // 1000 >= T0 * 1000 + 1  # clock-ordered


def test_a_step_admits_by_elapsed_time_and_carries_fractions():
    waiting = list(range(100, 200))
    state = step(RoomState(), waiting, WaitingRoom(True, 30), T0, 0)
    assert state.admitted_up_to == -1 and state.waiting == 100  # the first step owes a minute ...
    assert state.up_to(T0 + 1) == 100 and state.up_to(T0 + 60) == 159  # ... paid at twice the rate
    state = step(state, waiting, WaitingRoom(True, 30), T0 + 61, 0)  # 1 s no turn covered: half a place
    assert state.admitted_up_to == 159 and state.turn(160) == T0 + 62 and state.turn(161) == T0 + 64


def test_an_empty_room_banks_nothing_and_a_long_pause_lets_in_no_crowd():
    state = step(RoomState(), [], ROOM, T0, 0)
    state = step(state, [], ROOM, T0 + 3600, 0)
    assert state.carry == 0 and state.admitted_up_to == -1 and state.plan == ()
    state = step(state, list(range(1000)), ROOM, T0 + 7200, 0)
    assert state.admitted_up_to == -1 and state.up_to(T0 + 7200.5) == 0  # one a turn, no crowd at once
    assert state.up_to(T0 + 7500) == 599  # at most five minutes' worth owed, paid at twice the rate


def test_shed_load_halves_the_rate_and_calm_brings_it_back():
    assert next_rate(0, 60, shed=False) == 60
    assert next_rate(60, 60, shed=True) == 30
    assert next_rate(1, 60, shed=True) == 1
    assert next_rate(30, 60, shed=False) == 45
    assert next_rate(45, 60, shed=False) == 60
    state = step(RoomState(rate_per_minute=60, stepped_at=T0, shed_seen=5), list(range(100)), ROOM, T0 + 60, 9)
    assert state.rate_per_minute == 30 and state.up_to(T0 + 120) == 59 and state.shed_seen == 9


def test_standing_estimates_the_wait_and_when_to_poll_again():
    setting = WaitingRoom(True, 6)
    state = step(RoomState(), list(range(10, 1000, 10)), setting, T0, 0)  # one every 5 s while owed
    planned = state.standing(100, setting, T0 + 20)
    assert (planned.state, planned.position, planned.estimated_wait_seconds, planned.poll_after_seconds) == (
        "waiting", 6, 30, 30
    )  # fmt: skip
    beyond = state.standing(200, setting, T0 + 20)
    assert (beyond.position, beyond.estimated_wait_seconds) == (16, 160) and 2 <= beyond.poll_after_seconds <= 30
    assert state.standing(40, setting, T0 + 20).state == "admitted"
    assert state.standing(10**12, ROOM, T0).position == state.waiting + 1  # joined after the step: last


def test_positions_of_a_long_line_are_close():
    waiting = list(range(100_000))
    state = step(RoomState(), waiting, WaitingRoom(True, 1000), T0, 0)
    for n in (1_000, 25_000, 99_999):
        assert abs(state.position(n, T0) - (n + 1)) <= state.spacing
        assert abs(state.position(n, T0 + 30) - (n - 999)) <= 2 * state.spacing  # a minute's owed, paid


# ---- tickets -----------------------------------------------------------------------------------------


def test_a_ticket_is_signed_and_carries_no_identity_number():
    pid = make_pid(3)
    ticket = Ticket("tb1", person_hash(pid, KEY), 1_700_000_000_123_456)
    text = sign_ticket(ticket, KEY)
    assert read_ticket(text, KEY) == ticket
    assert pid not in text and pid not in ticket.person
    assert person_hash(pid, KEY) != person_hash(pid, b"x" * 32)


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
        lambda t: sign_ticket(Ticket("tb1", "p", 1), b"y" * 32),  # another key
        lambda t: "e30." + t.split(".")[1],  # another payload
        lambda t: t + "." + t,
        lambda t: "",
        lambda t: "x" * 1000,
        lambda t: "@@@.@@@",
    ],
)
def test_a_forged_or_altered_ticket_reads_as_none(forge):
    assert read_ticket(forge(sign_ticket(Ticket("tb1", "p", 1), KEY)), KEY) is None


def test_a_hold_needs_the_callers_own_admitted_ticket_of_this_timebook():
    state = RoomState(admitted_up_to=500)
    mine = Ticket("tb1", "me", 400)
    require_admitted(mine, "tb1", "me", state, T0)
    for ticket, timebook, person in [
        (None, "tb1", "me"),
        (mine, "tb2", "me"),  # another timebook's
        (mine, "tb1", "someone else"),  # another person's
        (Ticket("tb1", "me", 501), "tb1", "me"),  # not yet admitted
    ]:
        with pytest.raises(Forbidden) as refused:
            require_admitted(ticket, timebook, person, state, T0)
        assert (refused.value.status, refused.value.code) == (403, "queue_required")


# ---- waves by birth date --------------------------------------------------------------------------

OPENS_OLD = datetime(2030, 3, 1, 8, tzinfo=UTC)
OPENS_YOUNG = datetime(2030, 3, 8, 8, tzinfo=UTC)
WAVES = (
    Wave(OPENS_OLD, date(1900, 1, 1), date(1959, 12, 31)),
    Wave(OPENS_YOUNG, date(1960, 1, 1), date(1979, 12, 31)),
)


def test_the_wave_is_the_persons_by_birth_date_inclusive():
    assert wave_opens_at(WAVES, date(1959, 12, 31)) == OPENS_OLD
    assert wave_opens_at(WAVES, date(1960, 1, 1)) == OPENS_YOUNG
    assert wave_opens_at(WAVES, date(1979, 12, 31)) == OPENS_YOUNG
    assert wave_opens_at(WAVES, date(1990, 5, 5)) == OPENS_YOUNG  # in no wave: once the last has opened
    assert wave_opens_at((), date(1990, 5, 5)) is None
    both = (*WAVES, Wave(OPENS_OLD - timedelta(days=1), date(1970, 1, 1), date(1970, 12, 31)))
    assert wave_opens_at(both, date(1970, 6, 1)) == OPENS_OLD - timedelta(days=1)  # the earliest of theirs


@pytest.mark.parametrize("d_number", [False, True])
def test_before_the_wave_opens_the_answer_names_the_time(d_number):
    pid = make_pid(11, d_number=d_number)  # D-numbers carry the birth day + 40
    born = date.fromisoformat(birth_date(pid))
    waves = (Wave(OPENS_YOUNG, born, born),)
    with pytest.raises(NotOpenYet) as refused:
        require_wave_open(waves, born, OPENS_YOUNG - timedelta(seconds=1))
    assert (refused.value.status, refused.value.code) == (403, "not_open_yet")
    assert refused.value.extra == {"opens_at": OPENS_YOUNG.isoformat()}
    require_wave_open(waves, born, OPENS_YOUNG)
    assert make_pid(11, d_number=True) != make_pid(11) and birth_date(make_pid(11, d_number=True)) == birth_date(
        make_pid(11)
    )
