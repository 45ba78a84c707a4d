"""The storage seam's contract: the same cases against moto and against the in-memory repository
(tests/fakes/memory.py), so the fake the use-case tests run on cannot drift from DynamoDB's
conditions. Every name of the seam (`__all__` of storage/repository.py, storage/waitlist.py and
storage/staffwork.py) is called at least once (the last test checks it); the conflicting cases
name exactly the parts that lose."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.capacity import Claim
from chalicelib.domain.forms import Answer, Form, Question
from chalicelib.domain.limits import Lane
from chalicelib.domain.model import (
    Appointment,
    AuditRecord,
    Event,
    HealthContact,
    HealthContactRef,
    IdempotencyRecord,
    Location,
    Person,
    Resource,
    Slot,
    Timebook,
    TimebookRef,
)
from chalicelib.domain.paging import PageRequest, Position
from chalicelib.domain.retention import ERASED
from chalicelib.domain.slots import SlotRef
from chalicelib.domain.waitlist import Entry, Guard, Offer
from chalicelib.storage import keys, repository, retention, staffwork, waitlist
from chalicelib.storage import queue as queue_storage
from chalicelib.storage.models import InboxMessageItem
from tests.factories import make_pid
from tests.helpers import stream_messages

NOW = 1_900_000_000  # epoch seconds (2030-03-17): every condition is judged at this moment
TB, LOC, OTHER_LOC = "tbc", "loca", "locb"
DAY = date(2030, 3, 20)
OWNER, OTHER = make_pid(901), make_pid(902)


@pytest.fixture(params=["moto", "memory"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Seam:
    """The seam's names as the use cases reach them: looked up on the module at call time."""

    def __getattr__(self, name: str) -> Any:
        for module in (repository, waitlist, staffwork, retention, queue_storage):
            if name in module.__all__:
                return getattr(module, name)
        raise AttributeError(name)


@pytest.fixture
def seam(aws: dict[str, str], storage_backend: str, memory_repository: Any) -> Iterator[Seam]:
    assert (memory_repository is not None) == (storage_backend == "memory")
    assert (repository.book.__module__ == "tests.fakes.memory") == (storage_backend == "memory")
    yield Seam()


# ---- building domain objects ---------------------------------------------------------------------


def ref(hour: int, minute: int = 0, day: date = DAY, location: str = LOC) -> SlotRef:
    return SlotRef(TB, location, datetime(day.year, day.month, day.day, hour, minute))


def slot(at: SlotRef, capacity: int = 2) -> Slot:
    start = at.start
    return Slot(
        at.slot_id, TB, at.location_id, start.isoformat(), (start + timedelta(minutes=15)).isoformat(), capacity
    )


def hold_claim(hold_id: str, owner: str = OWNER, expires_at: int = NOW + 600) -> Claim:
    return Claim("hold", hold_id, owner, expires_at)


def appointment(
    n: int, at: SlotRef, place: int = 0, *, status: str = "requested", lane: int | None = None
) -> Appointment:
    start = at.start
    return Appointment(
        id=f"ap{n:04d}",
        status=status,
        version=1,
        slot_id=at.slot_id,
        place=place,
        start=start.isoformat(),
        end=(start + timedelta(minutes=15)).isoformat(),
        duration_minutes=15,
        cancel_deadline_hours=24,
        timebook=TimebookRef(TB, "Blodprøve", "lab"),
        health_contact=HealthContactRef("hc1", "Kommune Lab", "1234"),
        location=Location(at.location_id, "Lab", "Gata 1", ""),
        for_pid=OWNER,
        for_name="Innbygger",
        booked_by=OWNER,
        booked_by_name="Innbygger",
        answers=(Answer("q1", "", "ja"),),
        phone="+4790000000",
        description="",
        reason=None,
        created_at="2030-03-17T10:00:00+01:00",
        updated_at="2030-03-17T10:00:00+01:00",
        lane=lane,
    )


def booking(made: Appointment, at: SlotRef, place: int = 0, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "appointment": made,
        "slot": at,
        "place": place,
        "owner": OWNER,
        "hold_id": None,
        "event": {"k": "requested"},
        "person": Person(TB, OWNER),
    }
    fields.update(changes)
    return repository.Booking(**fields)


def entry(n: int, pid: str = OWNER, version: int = 0, status: str = "waiting") -> Entry:
    created = f"2030-03-17T09:00:00.{n:03d}+00:00"
    return Entry(f"wl{n:04d}", TB, None, None, None, pid, pid, status, version, None, created, created)


def event(n: int, kind: str = "offer") -> Event:
    payload = {"for_pid": OWNER, "timebook_name": "Blodprøve", "health_contact_name": "Lab", "waitlist": "yes"}
    return Event(f"ev{n:04d}", kind, f"wl{n:04d}", "2030-03-17T10:00:00.000+01:00", payload, NOW + 86400)


def audit(n: int, action: str = "slot_changed") -> AuditRecord:
    at = f"2030-03-17T09:00:{n:02d}.000+00:00"
    return AuditRecord(f"au{n:04d}", at, "staff", action, "target", {"n": n}, TB, at)


def _lab_timebook() -> Timebook:
    """Timebook TB of health contact hc1 (create hc1 first)."""
    return Timebook(
        TB, "Blodprøve", "lab", "", HealthContactRef("hc1", "Kommune Lab", "1234"), Resource("Lab"), None,
        True, 10, 24, 1, 30, Form("Skjema", (Question("q1", "Fastende?"),)),
    )  # fmt: skip


def lost(call: Any, *args: Any, **kwargs: Any) -> list[str]:
    """Which parts lost (the test fails if the write went through)."""
    with pytest.raises(repository.ConditionFailed) as refused:
        call(*args, **kwargs)
    return refused.value.failed


# ---- catalog -------------------------------------------------------------------------------------


def test_health_contacts_and_timebooks(seam: Seam) -> None:
    contact = HealthContact("hc1", "Kommune", "Lab", "1234", ("timebestilling",), "+47 22 00 00 00")
    seam.create_health_contact(contact, "2030-01-01T00:00:00+01:00")
    assert lost(seam.create_health_contact, HealthContact("hc2", "Annen", "Lab", "1234"), "x") == ["her_id"]
    seam.create_health_contact(HealthContact("hc0", "Aaa", "Lab", "999"), "x")
    assert [c.id for c in seam.list_health_contacts()] == ["hc0", "hc1"]  # by name
    assert seam.get_health_contact("hc1") == contact and seam.get_health_contact("nope") is None

    book = _lab_timebook()
    seam.create_timebook(book, "x")
    seam.add_location(TB, Location(LOC, "Lab", "Gata 1", "Inngang B"))
    seam.set_slot_minutes(TB, 15)
    stored = seam.get_timebook(TB)
    assert stored is not None and stored.locations == (Location(LOC, "Lab", "Gata 1", "Inngang B"),)
    assert stored.slot_minutes == 15 and stored.form == book.form and stored.max_active_per_person == 1
    assert [t.id for t in seam.list_timebooks("hc1")] == [TB] and seam.list_timebooks("hc0") == []
    assert seam.get_timebook("nope") is None
    seam.reset_connections()


def test_timebook_settings_change_at_the_version_they_read(seam: Seam) -> None:
    from chalicelib.domain.queue import WaitingRoom, Wave

    seam.create_health_contact(HealthContact("hc1", "Kommune", "Lab", "1234"), "x")
    book = _lab_timebook()
    seam.create_timebook(book, "x")
    wave = Wave(datetime(2030, 3, 1, 8, tzinfo=UTC), date(1950, 1, 1), date(1960, 12, 31), "wv1")
    room = WaitingRoom(True, 30)
    changed = replace(book, hold_minutes=5, max_active_per_person=None, waiting_room=room, waves=(wave,))
    meanwhile = Location(LOC, "Lab", "Gata 1")
    seam.add_location(TB, meanwhile)
    seam.change_timebook_settings(changed, 0)
    stored = seam.get_timebook(TB)
    assert stored == replace(changed, version=1, locations=(meanwhile,))  # the location added meanwhile stays
    assert lost(seam.change_timebook_settings, replace(changed, hold_minutes=7), 0) == ["timebook"]
    seam.change_timebook_settings(replace(changed, waiting_room=None, max_active_per_person=2), 1)
    stored = seam.get_timebook(TB)
    assert stored is not None and (stored.version, stored.waiting_room, stored.max_active_per_person) == (2, None, 2)
    assert lost(seam.change_timebook_settings, replace(changed, id="nope"), 0) == ["timebook"]


def test_priority_lists_are_one_lookup_per_person(seam: Seam) -> None:
    seam.create_health_contact(HealthContact("hc1", "Kommune", "Lab", "1234"), "x")
    book = _lab_timebook()
    seam.create_timebook(book, "x")
    assert seam.waves_of_person(TB, "aa", NOW) == []
    people = [f"{n:032x}" for n in range(60)]  # more than one batch of 25
    assert seam.add_wave_people(TB, "wv1", [*people, people[0]], NOW + 3600, 0) == 60
    assert seam.add_wave_people(TB, "wv0", people[:1], NOW + 60, 0) == 1
    assert sorted(seam.waves_of_person(TB, people[0], NOW)) == ["wv0", "wv1"]
    assert seam.waves_of_person(TB, people[59], NOW) == ["wv1"]
    assert seam.waves_of_person(TB, "bb", NOW) == [] and seam.waves_of_person("other", people[0], NOW) == []
    assert seam.waves_of_person(TB, people[0], NOW + 60) == ["wv1"]  # a list past its lifetime: not there
    stored = seam.get_timebook(TB)
    assert stored is not None and stored.priority_lists and stored.listed_waves == {"wv0", "wv1"}
    # The settings changed since the uploader read them: nothing is written, the wave may be gone.
    seam.change_timebook_settings(replace(book, hold_minutes=3), 0)
    assert lost(seam.add_wave_people, TB, "wv2", ["cc"], NOW + 60, 0) == ["timebook"]
    assert seam.waves_of_person(TB, "cc", NOW) == []
    assert lost(seam.add_wave_people, "other", "wv2", ["cc"], NOW + 60, 0) == ["timebook"]


def test_lists_are_walked_a_page_at_a_time_and_the_newest_settings_stamp_them(seam: Seam) -> None:
    from chalicelib.domain.queue import ListEntry, Restamp

    seam.create_health_contact(HealthContact("hc1", "Kommune", "Lab", "1234"), "x")
    seam.create_timebook(_lab_timebook(), "x")
    people = [f"{n:032x}" for n in range(5)]
    seam.add_wave_people(TB, "wv1", people, NOW + 60, 0)
    seam.add_wave_people(TB, "wv0", people[:2], NOW + 60, 0)

    def walk() -> list[ListEntry]:
        walked, after = [], None
        while True:
            page, after = seam.list_entries(TB, after, 3)
            assert len(page) <= 3
            walked.extend(page)
            if after is None:
                return walked

    walked = walk()
    expected = [(p, "wv0") for p in people[:2]] + [(p, "wv1") for p in people]
    assert sorted((e.person, e.wave_id) for e in walked) == sorted(expected) and len(walked) == 7
    assert {(e.ttl, e.stamped) for e in walked} == {(NOW + 60, 0)}
    assert seam.list_entries("other", None, 3) == ([], None)
    # Newer settings win whatever order the stamps land in; an entry not there is not brought back.
    assert seam.stamp_entries(TB, walked[:4], NOW + 7200, 2) == 4
    assert seam.stamp_entries(TB, walked, NOW + 3600, 1) == 3
    assert seam.stamp_entries(TB, [ListEntry("dd", "wv1"), ListEntry(people[4], "wv0")], NOW + 7200, 3) == 0
    assert seam.waves_of_person(TB, "dd", NOW) == [] and seam.waves_of_person(TB, people[4], NOW) == ["wv1"]
    stamped = {(e.person, e.wave_id): (e.ttl, e.stamped) for e in walk()}
    assert sorted(stamped.values()) == [(NOW + 3600, 1)] * 3 + [(NOW + 7200, 2)] * 4
    assert all(stamped[(e.person, e.wave_id)] == (NOW + 7200, 2) for e in walked[:4])
    assert sorted(seam.waves_of_person(TB, walked[0].person, NOW + 3600)) == ["wv0", "wv1"]  # the newer lifetime
    # The walk asked for: a newer ask starts it again (keeping the first ask's time), and an older
    # walk's save is refused.
    assert seam.get_restamp(TB) is None and seam.unfinished_restamps() == []
    first = seam.ask_restamp(TB, NOW)
    assert seam.get_restamp(TB) == Restamp(TB, first, None, NOW)
    assert seam.save_restamp(Restamp(TB, first, "x", NOW), done=False) is True
    assert seam.get_restamp(TB) == Restamp(TB, first, "x", NOW) and seam.unfinished_restamps() == [TB]
    second = seam.ask_restamp(TB, NOW + 5)
    assert second > first and seam.get_restamp(TB) == Restamp(TB, second, None, NOW)
    assert seam.save_restamp(Restamp(TB, first, "y", NOW), done=True) is False
    assert seam.save_restamp(Restamp(TB, second, None, NOW), done=True) is True
    assert seam.get_restamp(TB) is None and seam.unfinished_restamps() == []
    third = seam.ask_restamp(TB, NOW + 9)
    assert third > second and seam.get_restamp(TB) == Restamp(TB, third, None, NOW + 9)
    assert seam.save_restamp(Restamp("other", 1), done=True) is False


def test_a_settings_change_never_drops_a_list_it_did_not_mean_to(seam: Seam) -> None:
    from chalicelib.domain.queue import Wave

    seam.create_health_contact(HealthContact("hc1", "Kommune", "Lab", "1234"), "x")
    waves = tuple(Wave(datetime(2030, 3, d, 8, tzinfo=UTC), None, None, f"wv{d}") for d in (1, 2))
    seam.create_timebook(replace(_lab_timebook(), waves=waves), "x")
    assert seam.add_wave_people(TB, "wv2", ["aa"], NOW + 60, 0) == 1  # marked after the change below read
    without = replace(_lab_timebook(), waves=waves[:1])
    assert lost(seam.change_timebook_settings, without, 0, ["wv2"]) == ["timebook"]
    seam.change_timebook_settings(replace(without, waves=waves[1:]), 0, ["wv1"])  # a wave without a list may go
    stored = seam.get_timebook(TB)
    assert stored is not None and (stored.version, stored.listed_waves) == (1, {"wv2"})
    seam.change_timebook_settings(replace(without, waves=()), 1, ["wv2"], drop_lists=True)
    stored = seam.get_timebook(TB)
    assert stored is not None and (stored.version, stored.waves, stored.listed_waves) == (2, (), frozenset())


# ---- slots and their summaries ---------------------------------------------------------------------


def test_slots_are_made_once_and_listed_in_day_summaries(seam: Seam) -> None:
    refs = [ref(8), ref(8, 15), ref(9, location=OTHER_LOC), ref(8, day=DAY + timedelta(days=1))]
    assert seam.create_slots([slot(r) for r in refs]) == 4
    assert seam.create_slots([slot(r, capacity=5) for r in refs[:2]]) == 0  # never overwritten
    assert seam.get_slot(refs[0]).capacity == 2  # type: ignore[union-attr]
    assert seam.get_slot(ref(10)) is None
    assert [s.slot_id for s in seam.get_slots([refs[1], ref(10), refs[0]])] == [refs[1].slot_id, refs[0].slot_id]

    summaries = list(seam.query_summaries(TB, "2030-03"))
    assert [(s.date, s.location_id) for s in summaries] == [
        (DAY.isoformat(), LOC), (DAY.isoformat(), OTHER_LOC), ((DAY + timedelta(days=1)).isoformat(), LOC)
    ]  # fmt: skip
    assert [e.hhmm for e in summaries[0].entries] == ["0800", "0815"] and summaries[0].refreshed_at == 0
    assert [s.date for s in seam.query_summaries(TB, "2030-03", day=DAY)] == [DAY.isoformat()] * 2
    later = list(seam.query_summaries(TB, "2030-03", from_day=DAY + timedelta(days=1)))
    assert [s.date for s in later] == [(DAY + timedelta(days=1)).isoformat()]

    seam.take_hold(repository.HoldWrite(refs[0], 0, hold_claim("h1"), Person(TB, OWNER)), NOW)
    fresh = seam.refresh_summaries(summaries[:1], NOW, NOW * 1000)
    assert fresh[0].entries[0].holds == (NOW + 600,) and fresh[0].refreshed_at == NOW * 1000
    stored = next(seam.query_summaries(TB, "2030-03", day=DAY))
    assert stored.entries[0].holds == (NOW + 600,) and stored.refreshed_at == NOW * 1000
    seam.invalidate_summary(TB, DAY, LOC)
    assert next(seam.query_summaries(TB, "2030-03", day=DAY)).refreshed_at == 0
    # Slots added meanwhile (the version grew): a recount made before is not stored over them.
    seam.create_slots([slot(ref(12))])
    seam.refresh_summaries([stored], NOW, NOW * 1000 + 5)
    assert next(seam.query_summaries(TB, "2030-03", day=DAY)).refreshed_at == 0

    ids = [s.slot_id for s in seam.slots_of_day(TB, DAY)]
    assert ids == [refs[0].slot_id, refs[1].slot_id, refs[2].slot_id, ref(12).slot_id]
    assert [s.slot_id for s in seam.slots_of_day(TB, DAY, OTHER_LOC)] == [refs[2].slot_id]
    assert len(seam.slots_between(TB, DAY, DAY + timedelta(days=1))) == 5
    assert [s.slot_id for s in seam.query_slots(TB, "2030-03", from_day=DAY + timedelta(days=1))] == [refs[3].slot_id]
    assert len(list(seam.query_slots(TB, "2030-03", day=DAY))) == 4


# ---- holds ---------------------------------------------------------------------------------------


def test_a_hold_takes_a_free_place_once(seam: Seam) -> None:
    at = ref(8)
    seam.create_slots([slot(at, capacity=2)])
    seam.take_hold(repository.HoldWrite(at, 0, hold_claim("h1"), Person(TB, OWNER)), NOW)
    found, person = seam.read_slot_and_person(at, OWNER)
    assert found is not None and found.claims[0] == hold_claim("h1")
    assert person == Person(TB, OWNER, True, "h1", NOW + 600, {}) and seam.get_person(TB, OWNER) == person
    # The place is taken; the other's person item is new and stays so.
    other = repository.HoldWrite(at, 0, hold_claim("h2", OTHER), Person(TB, OTHER))
    assert lost(seam.take_hold, other, NOW) == ["place"]
    # Beyond the capacity there is no place.
    assert lost(seam.take_hold, repository.HoldWrite(at, 2, hold_claim("h2", OTHER), Person(TB, OTHER)), NOW) == [
        "place"
    ]
    # The same person seen as before their hold (a second hold at once): the person part loses.
    assert lost(seam.take_hold, repository.HoldWrite(at, 1, hold_claim("h3"), Person(TB, OWNER)), NOW) == ["person"]
    # Both lose at once: puts are named before updates, as PynamoDB sends them.
    assert lost(seam.take_hold, repository.HoldWrite(at, 0, hold_claim("h3"), Person(TB, OWNER)), NOW) == [
        "person",
        "place",
    ]
    # Once expired, the place is free by the capacity rule, without any sweep.
    assert seam.take_hold(other, NOW + 600) is None
    assert seam.get_slot(at).claims[0].ref == "h2"  # type: ignore[union-attr]


def test_a_new_hold_frees_the_old_one_in_the_same_transaction(seam: Seam) -> None:
    first, second = ref(8), ref(9)
    seam.create_slots([slot(first), slot(second)])
    seam.take_hold(repository.HoldWrite(first, 0, hold_claim("h1"), Person(TB, OWNER)), NOW)
    person = seam.get_person(TB, OWNER)
    # Another slot: the old place is freed ("old"), if it still carries that hold.
    stale = repository.HoldWrite(second, 0, hold_claim("h2"), person, free_old=(first, 0, "nope"))
    assert lost(seam.take_hold, stale, NOW) == ["old"]
    seam.take_hold(repository.HoldWrite(second, 0, hold_claim("h2"), person, free_old=(first, 0, "h1")), NOW)
    assert seam.get_slot(first).claims == {}  # type: ignore[union-attr]
    person = seam.get_person(TB, OWNER)
    assert person.hold == "h2"
    # The same slot, another place: one update frees and takes.
    seam.take_hold(repository.HoldWrite(second, 1, hold_claim("h3"), person, free_old=(second, 0, "h2")), NOW)
    assert set(seam.get_slot(second).claims) == {1}  # type: ignore[union-attr]
    # The same place held anew.
    person = seam.get_person(TB, OWNER)
    seam.take_hold(repository.HoldWrite(second, 1, hold_claim("h4"), person, free_old=(second, 1, "h3")), NOW)
    assert seam.get_slot(second).claims[1].ref == "h4"  # type: ignore[union-attr]


def test_a_hold_needs_a_free_lane_an_open_slot_and_an_unused_key(seam: Seam) -> None:
    at, closed = ref(8), ref(9)
    seam.create_slots([slot(at, capacity=4), slot(closed)])
    assert seam.close_slot(closed) is True and seam.close_slot(closed) is False
    lost_closed = repository.HoldWrite(closed, 0, hold_claim("h0"), Person(TB, OWNER))
    assert lost(seam.take_hold, lost_closed, NOW) == ["place"]
    made = appointment(1, at, 3, lane=0)
    seam.book(booking(made, at, 3, lane=0), NOW, NOW + 3600)
    person = seam.get_person(TB, OWNER)
    assert person.lanes == {0: Lane(made.id, NOW + 3600)}
    assert lost(seam.take_hold, repository.HoldWrite(at, 0, hold_claim("h1"), person, lane=0), NOW) == ["person"]
    seam.take_hold(repository.HoldWrite(at, 0, hold_claim("h1"), person, lane=0), NOW + 3600)  # it has ended
    key = IdempotencyRecord(OTHER, "holds", "k1", "hash", "h2", NOW + 86400)
    seam.take_hold(repository.HoldWrite(at, 1, hold_claim("h2", OTHER), Person(TB, OTHER), idempotency=key), NOW)
    assert seam.get_idempotency(OTHER, "holds", "k1") == key and seam.get_idempotency(OTHER, "holds", "k2") is None
    again = repository.HoldWrite(at, 2, hold_claim("h3", OTHER), seam.get_person(TB, OTHER), idempotency=key)
    assert lost(seam.take_hold, again, NOW) == ["idempotency"]
    seam.take_hold(again, NOW + 86400)  # a key older than a day is free again


def test_release_and_forget(seam: Seam) -> None:
    at = ref(8)
    seam.create_slots([slot(at)])
    seam.take_hold(repository.HoldWrite(at, 0, hold_claim("h1"), Person(TB, OWNER)), NOW)
    assert lost(seam.release_place, at, 0, "h1", OTHER) == ["place"]
    assert lost(seam.release_place, at, 0, "nope") == ["place"]
    assert lost(seam.release_place, ref(10), 0, "h1") == ["place"]  # no such slot
    seam.release_place(at, 0, "h1", OWNER)
    assert seam.get_slot(at).claims == {}  # type: ignore[union-attr]
    seam.forget_hold(TB, OWNER, "nope")
    assert seam.get_person(TB, OWNER).hold == "h1"
    seam.forget_hold(TB, OWNER, "h1")
    assert seam.get_person(TB, OWNER) == Person(TB, OWNER, True, None, None, {})
    seam.forget_hold(TB, OTHER, "h1")  # nobody: nothing happens
    assert seam.get_person(TB, OTHER) == Person(TB, OTHER)


# ---- appointments --------------------------------------------------------------------------------


def test_booking_a_hold_follows_the_hold_rule(seam: Seam) -> None:
    at = ref(8)
    seam.create_slots([slot(at)])
    seam.take_hold(repository.HoldWrite(at, 0, hold_claim("h1"), Person(TB, OWNER)), NOW)
    person = seam.get_person(TB, OWNER)
    made = appointment(1, at)
    assert lost(seam.book, booking(made, at, hold_id="h1", owner=OTHER, person=person), NOW, NOW) == ["place"]
    assert lost(seam.book, booking(made, at, hold_id="h1", person=person), NOW + 600, NOW) == ["place"]  # expired
    assert lost(seam.book, booking(made, at, hold_id="h1", person=Person(TB, OWNER)), NOW, NOW) == ["person"]
    stream_messages()  # nothing so far
    seam.book(booking(made, at, hold_id="h1", person=person), NOW, NOW)
    assert seam.get_appointment(made.id, consistent=True) == made and seam.get_appointment("nope") is None
    assert seam.get_slot(at).claims[0] == Claim("appointment", made.id, OWNER, 9_999_999_999)  # type: ignore[union-attr]
    assert seam.get_person(TB, OWNER).hold is None
    told = stream_messages()
    assert [(m["kind"], m["appointment_id"], m["payload"]["status"]) for m in told] == [
        ("requested", made.id, "requested")
    ]
    # The same appointment again, on a free place: only the appointment's put loses.
    assert lost(seam.book, booking(made, at, 1), NOW, NOW) == ["appointment"]


def test_changing_an_appointment_is_guarded_by_its_state_and_version(seam: Seam) -> None:
    first, second = ref(8), ref(9)
    seam.create_slots([slot(first), slot(second)])
    made = appointment(1, first, 0, lane=0)
    seam.book(booking(made, first, 0, lane=0), NOW, NOW + 3600)
    stream_messages()
    move = repository.Move(second.slot_id, 1, second.start.isoformat(), made.end, 15, Location(LOC, "Lab", "Gata 1"))
    take = (second, 1, Claim("appointment", made.id, OWNER, 9_999_999_999))
    change = repository.Change(
        made, ["requested"], 1, "requested", "2030-03-17T11:00:00+01:00", {"k": "rescheduled"},
        free=(first, 0), take=take, lane_ends_at=NOW + 7200, audit=audit(1, "appointment_reschedule"), move=move,
    )  # fmt: skip
    stale = repository.Change(made, ["requested"], 2, "booked", "x", {"k": "confirmed"})
    assert lost(seam.change_appointment, stale, NOW) == ["appointment"]
    assert lost(seam.change_appointment, repository.Change(made, ["booked"], 1, "cancelled", "x", {"k": "x"}), NOW) == [
        "appointment"
    ]
    seam.change_appointment(change, NOW)
    moved = seam.get_appointment(made.id)
    assert moved is not None and (moved.version, moved.slot_id, moved.place) == (2, second.slot_id, 1)
    assert seam.get_slot(first).claims == {} and set(seam.get_slot(second).claims) == {1}  # type: ignore[union-attr]
    assert seam.get_person(TB, OWNER).lanes == {0: Lane(made.id, NOW + 7200)}
    assert [m["kind"] for m in stream_messages()] == ["rescheduled"]
    # Two staff at once: the second, at the version it read, loses; so do the place and lane parts.
    cancel = repository.Change(
        moved, ["requested", "booked"], 2, "cancelled", "x", {"k": "cancelled"}, free=(second, 1), free_lane=True,
        reason="Stengt",
    )  # fmt: skip
    seam.change_appointment(cancel, NOW)
    assert lost(seam.change_appointment, cancel, NOW) == ["appointment", "free", "lane"]
    gone = seam.get_appointment(made.id)
    assert gone is not None and (gone.status, gone.version, gone.reason) == ("cancelled", 3, "Stengt")
    assert seam.get_slot(second).claims == {} and seam.get_person(TB, OWNER).lanes == {}  # type: ignore[union-attr]
    messages = stream_messages()
    assert [(m["kind"], m["payload"].get("reason")) for m in messages] == [("cancelled", "Stengt")]
    assert [r.action for r in seam.audit_log(TB, 10, None)[0]] == ["appointment_reschedule"]
    # Taking a place that is not free loses "take".
    other = appointment(2, first, 0)
    seam.book(booking(other, first, 0), NOW, NOW)
    taken = repository.Change(other, ["requested"], 1, "requested", "x", {"k": "rescheduled"}, take=(first, 0, take[2]))
    assert lost(seam.change_appointment, taken, NOW) == ["take"]


def test_reminders_are_written_once_per_day(seam: Seam) -> None:
    at = ref(8)
    seam.create_slots([slot(at)])
    requested, booked = appointment(1, at, 0), appointment(2, at, 1, status="booked")
    seam.book(booking(requested, at, 0), NOW, NOW)
    seam.book(booking(booked, at, 1, event={"k": "booked"}), NOW, NOW)
    stream_messages()
    assert seam.mark_reminded(booked.id, "2030-03-19", {"k": "reminder", "t": "2030-03-19T18:00:00+01:00"}) is True
    assert seam.mark_reminded(booked.id, "2030-03-19", {"k": "reminder", "t": "x"}) is False
    assert seam.mark_reminded(requested.id, "2030-03-19", {"k": "reminder", "t": "x"}) is False
    assert seam.mark_reminded("nope", "2030-03-19", {"k": "reminder", "t": "x"}) is False
    assert seam.get_appointment(booked.id).reminded_on == "2030-03-19"  # type: ignore[union-attr]
    assert [(m["kind"], m["created_at"]) for m in stream_messages()] == [("reminder", "2030-03-19T18:00:00+01:00")]


def test_lists_of_appointments(seam: Seam) -> None:
    refs = [ref(8), ref(9), ref(8, day=DAY + timedelta(days=1))]
    seam.create_slots([slot(r, capacity=3) for r in refs])
    made = []
    for n in range(7):
        at = refs[n % 3]
        one = appointment(n, at, n // 3, status="booked" if n % 2 else "requested")
        if n == 6:
            one = replace_pid(one, OTHER)
        seam.book(booking(one, at, n // 3), NOW, NOW)
        made.append(one)
    mine = seam.appointments_of_people([OWNER, OWNER])
    assert [a.id for a in mine] == [a.id for a in sorted(made[:6], key=lambda a: (a.start, a.id))]
    assert len(seam.appointments_of_people([OWNER, OTHER])) == 7
    # Pages of several people, person by person.
    pages, position = [], Position()
    while position is not None:
        items, position = seam.appointments_of_people_page([OWNER, OTHER], PageRequest(4, position))
        pages.append([a.id for a in items])
    assert [i for page in pages for i in page] == [a.id for a in mine] + [made[6].id] and len(pages) == 2
    # A timebook's, by start; of a day; of a status; in pages.
    everything = [a.id for a in seam.appointments_of_timebook(TB)]
    assert everything == [a.id for a in sorted(made, key=lambda a: (a.start, a.id))]
    assert [a.id for a in seam.appointments_of_timebook(TB, day=DAY + timedelta(days=1))] == [
        made[n].id for n in (2, 5)
    ]
    assert {a.status for a in seam.appointments_of_timebook(TB, status="booked")} == {"booked"}
    pages, position = [], Position()
    while position is not None:
        items, position = seam.appointments_of_timebook_page(TB, PageRequest(3, position))
        pages.append([a.id for a in items])
    assert [i for page in pages for i in page] == everything and [len(p) for p in pages] == [3, 3, 1]
    assert seam.appointments_of_timebook("nope") == []


def replace_pid(made: Appointment, pid: str) -> Appointment:
    from dataclasses import replace

    return replace(made, for_pid=pid)


# ---- inbox ---------------------------------------------------------------------------------------


def test_the_inbox_keeps_one_message_per_event(seam: Seam) -> None:
    def message(n: int, pid: str = OWNER) -> InboxMessageItem:
        at = f"2030-03-17T10:00:{n:02d}.000+01:00"
        return InboxMessageItem(id=f"ev{n}", appointment_id="ap1", kind="booked", title="T", body="B", created_at=at)

    for n in range(5):
        assert seam.add_inbox_message(message(n), OWNER) is True
    assert seam.add_inbox_message(message(3), OWNER) is False
    assert seam.add_inbox_message(message(9), OTHER) is True
    assert [m.id for m in seam.inbox_of([OWNER, OTHER])] == ["ev9", "ev4", "ev3", "ev2", "ev1", "ev0"]
    pages, position = [], Position()
    while position is not None:
        items, position = seam.inbox_page([OWNER, OTHER], PageRequest(2, position))
        pages.append([m.id for m in items])
    assert [i for page in pages for i in page] == ["ev4", "ev3", "ev2", "ev1", "ev0", "ev9"]


# ---- waitlist ------------------------------------------------------------------------------------


def test_one_live_entry_per_person_and_the_queue(seam: Seam) -> None:
    first, second, third = entry(1), entry(2, OTHER), entry(3)
    seam.join(first)
    seam.join(second)
    assert lost(seam.join, third) == ["guard"]
    assert seam.get_guard(TB, OWNER) == Guard(first.id, True) and seam.get_guard(TB, make_pid(903)) is None
    assert seam.get_entry(first.id, consistent=True) == first and seam.get_entry("nope") is None
    assert [e.id for e in seam.queue(TB)] == [first.id, second.id] and seam.queue(TB, limit=1) == [first]
    assert [seam.position_in_queue(e, 10) for e in (first, second)] == [1, 2]
    assert [seam.position_in_queue(e, 0) for e in (first, second)] == [1, None]  # more ahead than counted
    assert seam.timebooks_with_waitlists() == [TB]
    assert lost(seam.end, first, "withdrawn", ["offered"], "x") == ["entry"]
    assert lost(seam.end, replace_entry(first, entry_id=third.id), "withdrawn", ["waiting"], "x") == ["entry", "guard"]
    seam.end(first, "withdrawn", ["waiting", "offered"], "2030-03-17T10:00:00.000+00:00")
    assert seam.get_guard(TB, OWNER) == Guard(first.id, False)
    assert [e.id for e in seam.queue(TB)] == [second.id]
    assert seam.position_in_queue(second, 0) == 1  # an entry that left is no longer ahead
    ended = seam.get_entry(first.id)
    assert ended is not None and (ended.status, ended.version) == ("withdrawn", 1)
    seam.join(third)  # once the live one ended, they may join again
    items, after = seam.entries_of_people([OWNER], 1, None)
    assert [e.id for e in items] == [third.id] and after is not None
    items, after = seam.entries_of_people([OWNER], 1, after)
    assert [e.id for e in items] == [first.id] and after is None


def replace_entry(found: Entry, entry_id: str) -> Entry:
    from dataclasses import replace

    return replace(found, id=entry_id)


def _new_offer(waiting: Entry, at: SlotRef, place: int, n: int, **changes: Any) -> Any:
    hold_id = f"h{n}"
    claim = Claim("hold", hold_id, waiting.owner, NOW + 1800, waitlist=waiting.id)
    offer = Offer(hold_id, at.slot_id, place, at.start.isoformat(), at.start.isoformat(), NOW + 1800)
    fields: dict[str, Any] = {"person": Person(TB, waiting.for_pid)}
    fields.update(changes)
    return waitlist.NewOffer(waiting, at, place, claim, offer, event(n), "2030-03-17T10:00:00.000+00:00", **fields)


def test_a_freed_place_is_offered_to_one_entry(seam: Seam) -> None:
    at = ref(8)
    seam.create_slots([slot(at, capacity=1)])
    first, second = entry(1), entry(2, OTHER)
    seam.join(first)
    seam.join(second)
    stream_messages()
    seam.offer(_new_offer(first, at, 0, 1), NOW)
    offered = seam.get_entry(first.id)
    assert offered is not None and offered.status == "offered" and offered.version == 1
    assert offered.offer is not None and offered.offer.hold_id == "h1"
    assert seam.get_person(TB, OWNER).hold == "h1"
    assert [(m["kind"], m["appointment_id"]) for m in stream_messages()] == [("offer", first.id)]
    # The place is the offer's: the next entry's offer loses it; a stale entry loses too.
    assert lost(seam.offer, _new_offer(second, at, 0, 2), NOW) == ["place"]
    assert lost(seam.offer, _new_offer(first, at, 0, 3, person=seam.get_person(TB, OWNER)), NOW + 1800) == ["entry"]
    assert lost(seam.offer, _new_offer(second, at, 0, 1), NOW) == ["event", "place"]  # event ids are unique
    assert stream_messages() == []
    # The offer lapses: the sweep tidies its hold (offers are in the sweep index), once.
    assert seam.tidy_expired_holds(NOW + 1799) == 0
    assert seam.tidy_expired_holds(NOW + 1800) == 1
    assert seam.tidy_expired_holds(NOW + 1800) == 0
    assert seam.get_slot(at).claims == {}  # type: ignore[union-attr]
    seam.offer(_new_offer(second, at, 0, 4), NOW + 1800)
    back = seam.get_entry(second.id)
    assert back is not None
    assert lost(seam.take_back_offer, back, at, 0, "nope", "x") == ["place"]
    assert lost(seam.take_back_offer, second, at, 0, "h4", "x") == ["entry"]
    seam.take_back_offer(back, at, 0, "h4", "2030-03-17T11:00:00.000+00:00")
    waiting = seam.get_entry(second.id)
    assert waiting is not None and (waiting.status, waiting.offer, waiting.version) == ("waiting", None, 2)
    assert [e.id for e in seam.queue(TB)] == [first.id, second.id]  # its place in line kept
    assert seam.get_slot(at).claims == {}  # type: ignore[union-attr]


def test_an_offer_replaces_a_live_hold_and_booking_it_ends_the_entry(seam: Seam) -> None:
    held, offered_at = ref(8), ref(9)
    seam.create_slots([slot(held), slot(offered_at)])
    waiting = entry(1)
    seam.join(waiting)
    seam.take_hold(repository.HoldWrite(held, 0, hold_claim("h0"), Person(TB, OWNER)), NOW)
    person = seam.get_person(TB, OWNER)
    stale = _new_offer(waiting, offered_at, 0, 1, person=person, free_old=(held, 0, "nope"))
    assert lost(seam.offer, stale, NOW) == ["old"]
    seam.offer(_new_offer(waiting, offered_at, 0, 1, person=person, free_old=(held, 0, "h0")), NOW)
    assert seam.get_slot(held).claims == {}  # type: ignore[union-attr]
    offered = seam.get_entry(waiting.id)
    assert offered is not None
    seam.end(offered, "booked", ["offered"], "x", release=(offered_at, 0, "h1"))
    assert seam.get_slot(offered_at).claims == {}  # type: ignore[union-attr]
    assert lost(seam.end, offered, "booked", ["offered"], "x", release=(offered_at, 0, "h1")) == [
        "entry",
        "place",
    ]


def test_a_hold_read_with_the_waitlist_gate_loses_to_anyone_who_started_waiting_since(seam: Seam) -> None:
    """Issue 18: the hold reads the waitlist registry's stamp with the slot and the person, and its
    write is conditioned on it: a join (or an offer taken back) meanwhile fails it ("waitlist")."""
    at = ref(8)
    seam.create_slots([slot(at, capacity=2)])
    found, person, gate = seam.read_hold_state(at, OWNER)
    assert found is not None and found.slot_id == at.slot_id and person == Person(TB, OWNER) and gate is None
    assert seam.read_person_and_gate(TB, OWNER) == (Person(TB, OWNER), None)
    first = entry(1, OTHER)
    seam.join(first)
    _, _, gate = seam.read_hold_state(at, OWNER)
    assert gate  # a registry with a stamp
    assert seam.read_person_and_gate(TB, OWNER) == (Person(TB, OWNER), gate)  # the same, without a slot
    seam.join(entry(2, make_pid(904)))
    stale = repository.HoldWrite(at, 0, hold_claim("h1"), Person(TB, OWNER), waitlist_gate=gate)
    assert lost(seam.take_hold, stale, NOW) == ["waitlist"]
    _, _, gate = seam.read_hold_state(at, OWNER)
    seam.offer(_new_offer(first, at, 1, 2), NOW)
    offered = seam.get_entry(first.id)
    assert offered is not None
    seam.take_hold(repository.HoldWrite(at, 0, hold_claim("h1"), Person(TB, OWNER), waitlist_gate=gate), NOW)
    _, _, gate = seam.read_hold_state(at, OWNER)
    seam.take_back_offer(offered, at, 1, "h2", "2030-03-17T11:00:00.000+00:00")  # waiting again
    person = seam.get_person(TB, OWNER)
    again = repository.HoldWrite(at, 1, hold_claim("h3"), person, free_old=(at, 0, "h1"), waitlist_gate=gate)
    assert lost(seam.take_hold, again, NOW) == ["waitlist"]


def test_an_entry_past_its_end_no_longer_guards_the_person(seam: Seam) -> None:
    """Issue 18: entries expire. A live entry whose end has passed (its window, or ENTRY_DAYS after
    joining) lets its person join again though nothing wrote it ended (and DynamoDB's TTL, days
    late, may have deleted it); the entry carries its `ttl`."""
    from dataclasses import replace

    first = replace(entry(1), window_to="2030-03-17T12:00:00+00:00")
    seam.join(first)
    before_end = replace(entry(2), created_at="2030-03-17T11:59:59.000+00:00")
    assert lost(seam.join, before_end) == ["guard"]
    seam.join(replace(entry(3), created_at="2030-03-17T12:00:00.000+00:00", updated_at="x"))
    assert seam.get_guard(TB, OWNER) == Guard("wl0003", True)
    stored = seam.get_entry(first.id)
    assert stored is not None and stored.ttl == first.ttl and first.gone(first.ttl) and not first.gone(first.ttl - 1)


def test_a_closure_tells_an_entry_once(seam: Seam) -> None:
    stream_messages()
    marker = keys.told(TB, "cl1", "wl0001")
    assert seam.tell_once(marker, event(1, "closed")) is True
    assert seam.tell_once(marker, event(2, "closed")) is False
    assert lost(seam.tell_once, keys.told(TB, "cl1", "wl0002"), event(1, "closed")) == ["event"]
    assert [m["kind"] for m in stream_messages()] == ["closed"]


# ---- staff work ----------------------------------------------------------------------------------


def test_staff_change_slots_at_the_capacity_they_read(seam: Seam) -> None:
    at = ref(8)
    seam.create_slots([slot(at, capacity=4)])
    seam.take_hold(repository.HoldWrite(at, 2, hold_claim("h1"), Person(TB, OWNER)), NOW)
    seam.take_hold(repository.HoldWrite(at, 3, hold_claim("h2", OTHER, NOW + 5), Person(TB, OTHER)), NOW)
    assert lost(seam.change_slot, at, 3, 2, None, audit(1), NOW) == ["slot"]  # not the capacity read
    assert lost(seam.change_slot, at, 4, 2, None, audit(2), NOW) == ["slot"]  # a live hold on place 2
    assert lost(seam.change_slot, ref(10), 4, 2, None, audit(3), NOW) == ["slot"]  # no such slot
    seam.change_slot(at, 4, 3, None, audit(4), NOW + 5)  # place 3's hold has lapsed: tidied away
    changed = seam.get_slot(at)
    assert changed is not None and changed.capacity == 3 and set(changed.claims) == {2}
    seam.change_slot(at, 3, None, True, audit(5), NOW)
    assert seam.get_slot(at).closed is True and seam.close_slot(at) is False  # type: ignore[union-attr]
    seam.change_slot(at, 3, None, False, audit(6), NOW)
    assert seam.close_slot(at) is True and seam.close_slot(ref(11)) is False
    # The failed changes wrote no audit record; the log reads newest first, in pages.
    seam.add_audit(audit(7, "location_added"))
    seam.add_audit(audit(7, "location_added"))  # written once
    records, before = seam.audit_log(TB, 2, None)
    assert [r.id for r in records] == ["au0007", "au0006"] and before is not None
    records, before = seam.audit_log(TB, 2, before)
    assert [r.id for r in records] == ["au0005", "au0004"] and before is None
    assert records[0] == AuditRecord("au0005", audit(5).at, "staff", "slot_changed", "target", {"n": 5})


def test_closures_are_found_until_finished(seam: Seam) -> None:
    detail = {"from": "2030-03-20T08:00:00+01:00", "to": "2030-03-20T12:00:00+01:00", "reason": "Stengt"}
    seam.start_closure(TB, "cl2", {**detail, "location_id": LOC}, audit(1, "closure"))
    seam.start_closure(TB, "cl1", detail, audit(2, "closure"))
    found = seam.unfinished_closures()
    assert [(c.closure_id, c.location_id, c.reason) for c in found] == [("cl1", None, "Stengt"), ("cl2", LOC, "Stengt")]
    assert (found[0].start, found[0].end, found[0].done) == (
        datetime.fromisoformat(detail["from"]), datetime.fromisoformat(detail["to"]), {}
    )  # fmt: skip
    assert len(seam.unfinished_closures(limit=1)) == 1
    seam.finish_closure(TB, "cl1", {"cancelled": 3})
    assert [c.closure_id for c in seam.unfinished_closures()] == ["cl2"]
    seam.start_closure(
        TB, "cl1", {**detail, "totals": {"cancelled": 3}}, audit(3, "closure")
    )  # a repeat is unfinished again
    again = seam.unfinished_closures()
    assert [(c.closure_id, c.done) for c in again] == [("cl1", {"cancelled": 3}), ("cl2", {})]
    assert [r.action for r in seam.audit_log(TB, 5, None)[0]] == ["closure"] * 3


def test_a_closure_is_read_with_its_progress_until_done(seam: Seam) -> None:
    detail = {"from": "2030-03-21T08:00:00+01:00", "to": "2030-03-21T12:00:00+01:00", "reason": "Stengt"}
    assert seam.get_closure(TB, "cl3") is None
    seam.start_closure(TB, "cl3", detail, audit(4, "closure"))
    seam.checkpoint_closure(TB, "cl3", {"closed_slots": 5})
    closure, done = seam.get_closure(TB, "cl3")
    assert (closure.closure_id, closure.reason, closure.done, done) == ("cl3", "Stengt", {"closed_slots": 5}, False)
    seam.finish_closure(TB, "cl3", {"closed_slots": 8, "cancelled": 2})
    seam.checkpoint_closure(TB, "cl3", {"closed_slots": 6})  # a late run's progress does not undo the end
    closure, done = seam.get_closure(TB, "cl3")
    assert (closure.done, done) == ({"closed_slots": 8, "cancelled": 2}, True)


def test_every_name_of_the_seam_is_in_a_case() -> None:
    """Every name the fake replaces is called by a case above (read from this file, so it holds
    however pytest or xdist spreads the cases)."""
    shared = {"Booking", "Change", "ConditionFailed", "HoldWrite", "Move", "NewOffer"}
    names = {
        name for module in (repository, waitlist, staffwork, retention, queue_storage) for name in module.__all__
    } - shared
    source = Path(__file__).read_text()
    assert {name for name in names if f"seam.{name}(" not in source and f"seam.{name}," not in source} == set()


def test_the_queue_is_read_a_page_at_a_time_in_order(seam: Seam) -> None:
    """The waitlist's queue in pages (issue 18: every entry is reached, whatever stands first)."""
    before = [e.id for page in seam.queue_pages(TB, page_size=2) for e in page]
    assert before == [e.id for e in seam.queue(TB, limit=1000)]
    assert all(len(page) <= 2 for page in seam.queue_pages(TB, page_size=2))


# ---- retention (issue 23) ---------------------------------------------------------------------------


def test_what_names_a_person_is_listed_until_erased(seam: Seam) -> None:
    at = ref(9)
    seam.create_slots([slot(at)])
    made = appointment(1, at, 0, lane=0)
    seam.book(booking(made, at, 0, lane=0), NOW, NOW + 3600)
    message = InboxMessageItem(
        id="ev1", appointment_id=made.id, kind="requested", title="T", body="B", created_at="2030-03-17T10:00:00+01:00"
    )
    assert seam.add_inbox_message(message, OWNER) is True
    staff = make_pid(905)  # a staff member's sub is an identity number too
    seam.add_audit(replace(audit(1, "appointment_confirm"), target=made.id, actor=staff, actor_role="staff"))
    old_staff = replace(audit(2, "appointment_cancel"), target=made.id, actor=staff)  # no role: before roles were
    seam.add_audit(old_staff)
    by_person = {"for": OWNER, "note": f"for {OWNER}", "n": 3, "list": [OWNER]}
    by_owner = replace(audit(3, "appointment_cancel"), target=made.id, actor=OWNER, actor_role="citizen")
    seam.add_audit(replace(by_owner, detail=by_person))
    seam.add_audit(replace(audit(4, "appointment_cancel"), target=made.id, actor=OWNER, actor_role="citizen"))
    seam.add_audit(replace(audit(5, "something_new"), actor=OWNER))  # no role, not a staff action: the person's
    carries = replace(audit(6, "slot_changed"), target=OWNER, actor=staff, actor_role="staff", detail={"n": OTHER})
    seam.add_audit(carries)
    about, complete = seam.audit_about(TB, [made.id, "nope"])
    assert [r.id for r in about] == ["au0004", "au0003", "au0002", "au0001"] and complete

    def listed() -> list[Any]:
        found, position = [], None
        while True:
            page, position = seam.personal_records(position, 2)
            found.extend(page)
            if position is None:
                return found

    records = listed()
    assert {r.kind for r in records} >= {"appointment", "person", "slot", "audit"}
    mine = next(r for r in records if r.kind == "appointment")
    assert (mine.timebook_id, mine.ends_at) == (TB, datetime.fromisoformat(made.end))
    assert all(seam.erase_record(r) for r in records)
    assert not any(seam.erase_record(r) for r in records)  # a second time changes nothing
    assert listed() == []
    erased = seam.get_appointment(made.id)
    assert erased is not None and (erased.for_pid, erased.phone, erased.answers, erased.status) == (
        ERASED, "", (), "requested"
    )  # fmt: skip
    assert seam.inbox_of([OWNER]) == [] and seam.appointments_of_people([OWNER]) == []
    # Who did what stays for staff; a citizen's own id, and every identity number in a record, goes.
    assert [(r.id, r.actor) for r in seam.audit_about(TB, [made.id])[0]] == [
        ("au0004", ERASED), ("au0003", ERASED), ("au0002", staff), ("au0001", staff)
    ]  # fmt: skip
    log = {r.id: r for r in seam.audit_log(TB, 10, None)[0]}
    assert log["au0003"].detail == {"for": ERASED, "note": f"for {ERASED}", "n": 3, "list": [ERASED]}
    assert (log["au0005"].actor, log["au0006"].actor, log["au0006"].target) == (ERASED, staff, ERASED)
    assert log["au0006"].detail == {"n": ERASED} and log["au0002"].detail == old_staff.detail
    assert (log["au0001"].actor_role, log["au0002"].actor_role) == ("staff", None)
    assert OWNER not in repr(log) and OTHER not in repr(log)
    assert seam.retention_position() is None
    seam.save_retention_position("somewhere")
    assert seam.retention_position() == "somewhere"


def test_a_record_changed_since_it_was_listed_is_not_erased(seam: Seam) -> None:
    """An Idempotency-Key used again after its first use expired is the new use's, not erased."""
    at = ref(10)
    seam.create_slots([slot(at, capacity=3)])
    old = IdempotencyRecord(OWNER, "appointments", "k9", "hash", "ap0001", NOW - 1)
    seam.book(booking(appointment(1, at, 0), at, 0, idempotency=old), NOW, NOW)
    listed = [r for r in seam.personal_records(None, 1000)[0] if r.kind == "idempotency"]
    assert len(listed) == 1 and listed[0].ends_at == datetime.fromtimestamp(NOW - 1, UTC)
    again = IdempotencyRecord(OWNER, "appointments", "k9", "hash", "ap0002", NOW + 86400)
    seam.book(booking(appointment(2, at, 1), at, 1, idempotency=again), NOW, NOW)
    assert seam.erase_record(listed[0]) is False
    assert seam.get_idempotency(OWNER, "appointments", "k9") == again


def test_the_waiting_room_keeps_one_ticket_per_person_and_steps_once(seam: Seam) -> None:
    """Issue 20: a second join answers the first arrival; arrivals are listed in order across
    shards; a step is saved only over the state it read; shed load adds up."""
    from chalicelib.domain.queue import RoomState

    people = [f"{n:08x}" + "ab" * 12 for n in range(12)]
    for n, person in enumerate(people):
        assert seam.join_queue(TB, person, 1_000 + 7 * n, NOW + 3600) == (1_000 + 7 * n, True)
    assert seam.join_queue(TB, people[3], 99_999, NOW + 3600) == (1_021, False)
    assert seam.waiting_after(TB, -1) == [1_000 + 7 * n for n in range(12)]
    assert seam.waiting_after(TB, 1_021) == [1_000 + 7 * n for n in range(4, 12)]
    assert seam.waiting_after("other", -1) == []
    assert seam.get_room(TB) is None
    assert seam.open_room(TB, NOW) is True and seam.open_room(TB, NOW + 1) is False
    assert seam.get_room(TB, consistent=True) == RoomState(stepped_at=NOW)
    assert TB in seam.rooms()
    plan = (1_014, 1_021, 1_021, 1_028)  # the turns ahead (issue 20's order at a high rate)
    stepped = RoomState(
        1_014, 30.0, NOW, waiting=9, mileposts=(1_021,), version=1, plan=plan, plan_from=NOW + 0.5,
        sold_out_locations=("locB",),
    )  # fmt: skip
    seam.save_room(TB, stepped)
    with pytest.raises(repository.ConditionFailed) as lost:
        seam.save_room(TB, stepped)  # a second run of the same step
    assert lost.value.failed == ["room"]
    found = seam.get_room(TB)
    assert (found.admitted_up_to, found.rate_per_minute, found.waiting, found.mileposts, found.version) == (
        1_014, 30.0, 9, (1_021,), 1
    )  # fmt: skip
    assert (found.plan, found.plan_from, found.sold_out, found.sold_out_locations) == (
        plan,
        NOW + 0.5,
        False,
        ("locB",),
    )
    before = seam.shed_total()
    seam.add_shed(3)
    seam.add_shed(2)
    assert seam.shed_total() == before + 5
