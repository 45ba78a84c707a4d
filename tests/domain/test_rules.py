"""Unit tests of the domain rules, no AWS at all (the fast tier's base): the capacity rule, the
transition table, form validation and the hold rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import appointments, capacity, forms, holds
from chalicelib.domain.appointments import Status, Transition

NOW = 1_900_000_000


def claim(kind: capacity.ClaimKind = "hold", expires_at: int = NOW + 600, owner: str = "p1") -> capacity.Claim:
    return capacity.Claim(kind, f"{kind}-ref", owner, expires_at)


# ---- the capacity rule ---------------------------------------------------------------------------


def test_a_place_is_free_without_a_claim_or_with_an_expired_one() -> None:
    assert capacity.place_is_free(None, NOW)
    assert capacity.place_is_free(claim(expires_at=NOW), NOW), "expiring now is expired"
    assert not capacity.place_is_free(claim(expires_at=NOW + 1), NOW)
    assert not capacity.place_is_free(claim("appointment", capacity.NEVER_EXPIRES), NOW)


@given(
    st.integers(min_value=1, max_value=8),
    st.dictionaries(st.integers(min_value=0, max_value=7), st.integers(min_value=NOW - 900, max_value=NOW + 900)),
)
def test_free_places_are_the_places_without_a_live_claim(size: int, expiries: dict[int, int]) -> None:
    claims = {place: claim(expires_at=at) for place, at in expiries.items() if place < size}
    free = capacity.free_places(size, claims, NOW)
    assert free == sorted(free) and set(free) <= set(range(size))
    live = {place for place, c in claims.items() if c.live(NOW)}
    assert set(free) == set(range(size)) - live, "never more, never fewer than capacity minus live claims"
    assert capacity.count(claims, "hold", NOW) == len(live)


def test_spread_choice_stays_within_the_window() -> None:
    import random

    candidates = [capacity.Candidate(f"s{i}", 0) for i in range(10)]
    rng = random.Random(4)
    picked = {capacity.spread_choice(candidates, 3, rng) for _ in range(200)}
    assert picked == set(candidates[:3])
    assert capacity.spread_choice([], 3, rng) is None


# ---- the transition table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transition", "allowed", "result"),
    [
        (Transition.CONFIRM, {Status.REQUESTED}, Status.BOOKED),
        (Transition.REJECT, {Status.REQUESTED}, Status.REJECTED),
        (Transition.CANCEL, {Status.REQUESTED, Status.BOOKED}, Status.CANCELLED),
        (Transition.RESCHEDULE, {Status.REQUESTED, Status.BOOKED}, None),
    ],
)
def test_transition_table(transition: Transition, allowed: set[Status], result: Status | None) -> None:
    assert appointments.ALLOWED_FROM[transition] == allowed
    assert appointments.RESULT[transition] == result


def test_no_transition_leaves_a_final_state() -> None:
    for status in (Status.REJECTED, Status.CANCELLED):
        assert not [t for t, allowed in appointments.ALLOWED_FROM.items() if status in allowed]


def test_only_reject_and_cancel_free_the_place() -> None:
    assert {t for t in Transition if appointments.frees_place(t)} == {Transition.REJECT, Transition.CANCEL}


def test_initial_status_and_cancel_deadline() -> None:
    assert appointments.initial_status(True) is Status.REQUESTED
    assert appointments.initial_status(False) is Status.BOOKED
    start = datetime(2030, 3, 31, 10, 0, tzinfo=UTC)
    assert appointments.citizen_may_cancel(start, 24, start - timedelta(hours=24, seconds=1))
    assert not appointments.citizen_may_cancel(start, 24, start - timedelta(hours=24))


# ---- form validation -----------------------------------------------------------------------------

FORM = forms.Form(
    "Skjema",
    (
        forms.Question("symptomer", "Har du symptomer?"),
        forms.Question("sted", "Hvor?", "choice", True, ("Oslo", "Bergen")),
        forms.Question("annet", "Noe annet?", "text", required=False),
    ),
)


def test_valid_answers_come_back_in_the_forms_order_and_words() -> None:
    answers, errors = forms.validate_answers(FORM, {"annet": "  astma ", "sted": "Bergen", "symptomer": "JA"})
    assert errors.fields == []
    assert [(a.question_id, a.answer) for a in answers] == [("symptomer", "Ja"), ("sted", "Bergen"), ("annet", "astma")]


@pytest.mark.parametrize(
    ("given_answers", "field"),
    [
        ({"sted": "Oslo"}, "answers.symptomer"),
        ({"symptomer": "  ", "sted": "Oslo"}, "answers.symptomer"),
        ({"symptomer": "kanskje", "sted": "Oslo"}, "answers.symptomer"),
        ({"symptomer": 1, "sted": "Oslo"}, "answers.symptomer"),
        ({"symptomer": True, "sted": "Trondheim"}, "answers.sted"),
        ({"symptomer": True, "sted": "Oslo", "annet": "x" * 501}, "answers.annet"),
        ({"symptomer": True, "sted": "Oslo", "ukjent": "ja"}, "answers.ukjent"),
    ],
)
def test_bad_answers_are_named_field_by_field(given_answers: dict[str, object], field: str) -> None:
    _, errors = forms.validate_answers(FORM, given_answers)
    assert field in [name for name, _ in errors.fields]


# ---- the hold rule -------------------------------------------------------------------------------


def test_a_hold_id_names_its_slot_place_lane_length_and_person() -> None:
    slot_id = "tb1a_loc2b_203003311000"
    pid = "24085038849"
    hold_id = holds.new_hold_id(slot_id, 3, lane=1, minutes=15, for_pid=pid)
    parsed = holds.parse_hold_id(hold_id)
    assert parsed == holds.HoldRef(slot_id, 3, hold_id, 1, 15, holds.person_tag(pid))
    assert parsed.is_for(pid) and not parsed.offer
    assert holds.new_hold_id(slot_id, 3, lane=1, minutes=15, for_pid=pid) != hold_id, "each hold is its own"


def test_a_waitlist_offer_says_so_in_its_hold_id() -> None:
    offer = holds.new_hold_id("tb1a_loc2b_203003311000", 0, lane=None, minutes=15, for_pid="24085038849", offer=True)
    assert holds.parse_hold_id(offer).offer


@pytest.mark.parametrize("text", ["", "h1_short_x", "x1_0123456789_slot", "h1_0123456789_", "h12345_0123456789_s"])
def test_anything_else_is_no_hold_id(text: str) -> None:
    assert holds.parse_hold_id(text) is None


def test_a_hold_lives_its_minutes_and_then_frees_its_place() -> None:
    taken = datetime.fromtimestamp(NOW, UTC)
    expires = holds.hold_expires_at(taken, holds.DEFAULT_HOLD_MINUTES)
    place = claim("hold", int(expires.timestamp()))
    assert not capacity.place_is_free(place, NOW + holds.DEFAULT_HOLD_MINUTES * 60 - 1)
    assert capacity.place_is_free(place, NOW + holds.DEFAULT_HOLD_MINUTES * 60)
