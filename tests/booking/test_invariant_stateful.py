"""The booking invariants, against a simple model (hypothesis stateful testing).

Whatever citizens do (hold, hold again elsewhere, release, book from a hold or straight from a
slot, cancel, reschedule, let time pass until slots start and appointments end):
- no slot ever carries more live holds plus active appointments than its capacity;
- a person never has more than one live hold in the timebook (a new hold replaces the old one);
- a person never has more active, not yet ended appointments than `max_active_per_person`, and
  an appointment that has ended stops counting without anybody doing anything;
- every operation succeeds exactly when the model says a place (or the hold, or a lane) is there.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from chalicelib import clock
from chalicelib.booking import appointments, holds, lifecycle, setup, slots
from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.holds import new_hold_id, parse_hold_id, person_tag
from chalicelib.domain.people import Principal
from chalicelib.errors import TimebokError
from chalicelib.http.commands import to_command
from chalicelib.http.schemas import AppointmentIn, HealthContactIn, LocationIn, ScheduleIn, TimebookIn
from chalicelib.storage import repository
from tests.conftest import moto_aws
from tests.factories import make_phone, make_pid

HOLD_MINUTES = 5
LIMIT = 2  # max_active_per_person
STAFF = Principal(sub=make_pid(5000), role="staff", name="Staff", orgs=("900",))


def _citizens() -> list[Principal]:
    """Four citizens whose hold-id tags differ (so a thief is always told 'not found')."""
    found: list[Principal] = []
    n = 5001
    while len(found) < 4:
        pid = make_pid(n)
        if person_tag(pid) not in {person_tag(c.sub) for c in found}:
            found.append(Principal(sub=pid, role="citizen", name=f"C{len(found)}"))
        n += 1
    return found


CITIZENS = _citizens()


@dataclass
class ModelSlot:
    slot_id: str
    capacity: int
    start: int
    end: int
    places: dict[int, tuple[str, int]] = field(default_factory=dict)  # place -> (claim ref, expires epoch)

    def taken(self, now: int) -> int:
        return sum(1 for _, expires in self.places.values() if expires > now)

    def place_free(self, place: int, now: int) -> bool:
        return place < self.capacity and (place not in self.places or self.places[place][1] <= now)

    def live_place_of(self, ref: str, now: int) -> int | None:
        return next((p for p, (r, e) in self.places.items() if r == ref and e > now), None)

    def unclaim(self, ref: str) -> None:
        self.places = {p: c for p, c in self.places.items() if c[0] != ref}


@dataclass
class ModelAppointment:
    id: str
    status: str
    slot_id: str
    who: int
    end: int
    events: int = 1  # «requested» when it was made


class BookingMachine(RuleBasedStateMachine):
    held = Bundle("held")
    made = Bundle("made")

    def __init__(self) -> None:
        super().__init__()
        self._aws = contextlib.ExitStack()
        self.queue_url = self._aws.enter_context(moto_aws())["queue_url"]
        self.appointments: dict[str, ModelAppointment] = {}
        self.hold_of: dict[int, str] = {}  # who -> their current hold id (model of the person item)
        self.hold_owner: dict[str, int] = {}
        # 07:40 in Oslo on a day a month ahead: slots start at 08:00, so time passing makes them
        # start and end during a run.
        day = (clock.local(clock.now()) + timedelta(days=30)).date()
        clock.advance(datetime.combine(day, time(7, 40), tzinfo=clock.OSLO) - clock.now())
        contact = setup.create_health_contact(
            STAFF, to_command(HealthContactIn(organisation="Testkommune", service="Smittevern", her_id="900"))
        )
        book = setup.create_timebook(
            STAFF,
            to_command(
                TimebookIn.model_validate(
                    {
                        "health_contact_id": contact.id,
                        "name": "Koronatest",
                        "type": "koronatest",
                        "resource": {"name": "Test"},
                        "requires_confirmation": True,
                        "hold_minutes": HOLD_MINUTES,
                        "cancel_deadline_hours": 0,
                        "max_active_per_person": LIMIT,
                    }
                )
            ),
        )
        self.timebook_id = book.id
        self.slots: dict[str, ModelSlot] = {}
        for capacity, end in ((2, "08:45"), (1, "08:15")):
            location = setup.add_location(
                STAFF, book.id, to_command(LocationIn(name=f"Sted {capacity}", address="Gaten 1"))
            )
            setup.add_schedule(
                STAFF,
                book.id,
                to_command(
                    ScheduleIn.model_validate(
                        {
                            "location_id": location.id,
                            "from": day.isoformat(),
                            "to": day.isoformat(),
                            "weekdays": [1, 2, 3, 4, 5, 6, 7],
                            "start_time": "08:00",
                            "end_time": end,
                            "slot_minutes": 15,
                            "capacity": capacity,
                        }
                    )
                ),
            )
        for slot in repository.query_slots(book.id, f"{day:%Y-%m}"):
            self.slots[slot.slot_id] = ModelSlot(
                slot.slot_id,
                int(slot.capacity),
                clock.epoch(datetime.fromisoformat(slot.start)),
                clock.epoch(datetime.fromisoformat(slot.end)),
            )
        assert len(self.slots) == 4

    def teardown(self) -> None:
        self._aws.close()

    def _now(self) -> int:
        return clock.epoch()

    def _active(self, who: int, now: int) -> int:
        """Appointments that count against the limit: active and not yet ended."""
        return sum(
            1
            for a in self.appointments.values()
            if a.who == who and a.status in ("requested", "booked") and a.end > now
        )

    def _live_hold(self, who: int, now: int) -> tuple[ModelSlot, int] | None:
        hold_id = self.hold_of.get(who)
        for slot in self.slots.values():
            place = slot.live_place_of(hold_id, now) if hold_id else None
            if place is not None:
                return slot, place
        return None

    def _took_hold(self, who: int, slot: ModelSlot, hold_id: str, place: int, expires: int) -> None:
        old = self._live_hold(who, self._now())
        if old:
            old[0].unclaim(self.hold_of[who])  # replaced: its place is freed in the same transaction
        slot.places[place] = (hold_id, expires)
        self.hold_of[who] = hold_id
        self.hold_owner[hold_id] = who

    # ---- rules ----

    @rule(target=held, slot_index=st.integers(0, 3), who=st.integers(0, 3))
    def hold(self, slot_index: int, who: int):  # type: ignore[no-untyped-def]
        slot = list(self.slots.values())[slot_index]
        now = self._now()
        own = self._live_hold(who, now)
        room = slot.taken(now) - (1 if own and own[0] is slot else 0) < slot.capacity
        expected = slot.start > now and room and self._active(who, now) < LIMIT
        try:
            made, _ = holds.hold_slot(CITIZENS[who], slot.slot_id)
        except TimebokError as error:
            assert not expected, f"hold refused with a free place: {error.code}"
            assert error.code in ("slot_unavailable", "active_appointment_exists")
            if self._active(who, now) >= LIMIT and slot.start > now:
                assert error.code == "active_appointment_exists"
            return None
        assert expected, "hold granted on a full or started slot, or beyond the person's limit"
        self._took_hold(who, slot, made.id, parse_hold_id(made.id).place, clock.epoch(made.expires_at))
        return (slot.slot_id, made.id, who)

    @rule(target=held, slot_index=st.integers(0, 3), place=st.integers(0, 2), who=st.integers(0, 3))
    def racing_hold(self, slot_index: int, place: int, who: int):  # type: ignore[no-untyped-def]
        """A concurrent request that read before the others wrote: it tries one place blindly.

        Only the guarded write stands between it and an overbooking."""
        slot = list(self.slots.values())[slot_index]
        now = self._now()
        lanes = [n for n in range(LIMIT)]  # blind too: the lane condition must hold it back
        hold_id = new_hold_id(slot.slot_id, place, lane=lanes[0], minutes=15, for_pid=CITIZENS[who].sub)
        expires = now + HOLD_MINUTES * 60
        person = repository.get_person(self.timebook_id, CITIZENS[who].sub)
        old = self._live_hold(who, now)
        write = repository.HoldWrite(
            slot=slots.parse_slot(slot.slot_id),
            place=place,
            claim=Claim("hold", hold_id, CITIZENS[who].sub, expires),
            person=person,
            free_old=(slots.parse_slot(old[0].slot_id), old[1], self.hold_of[who]) if old else None,
            lane=lanes[0],
        )
        lane_free = self._lane_free(who, 0, now)
        # The person's own live hold's place in this slot may be held anew (the back button).
        takeable = slot.place_free(place, now) or (old is not None and old[0] is slot and old[1] == place)
        try:
            repository.take_hold(write, now)
        except repository.ConditionFailed:
            assert not (takeable and lane_free), "a free place was refused"
            return None
        assert takeable, "the guarded write took a taken place"
        assert lane_free, "the guarded write took a hold beyond the person's limit"
        self._took_hold(who, slot, hold_id, place, expires)
        return (slot.slot_id, hold_id, who)

    def _lane_free(self, who: int, lane: int, now: int) -> bool:
        stored = repository.get_person(self.timebook_id, CITIZENS[who].sub).lanes
        return lane not in stored or not stored[lane].occupied(now)

    @rule(slot_a=st.integers(0, 3), slot_b=st.integers(0, 3), who=st.integers(0, 3))
    def two_holds_at_once(self, slot_a: int, slot_b: int, who: int) -> None:
        """Two requests of one person read the person item, then both write: the second write,
        made on what it read before the first won, must lose (never two live holds)."""
        principal = CITIZENS[who]
        stale = repository.get_person(self.timebook_id, principal.sub)
        first = self.hold(slot_a, who)
        if first is None:
            return
        target = list(self.slots.values())[slot_b]
        now = self._now()
        free = [p for p in range(target.capacity) if target.place_free(p, now)]
        if not free:
            return
        hold_id = new_hold_id(target.slot_id, free[0], lane=None, minutes=15, for_pid=principal.sub)
        write = repository.HoldWrite(
            slot=slots.parse_slot(target.slot_id),
            place=free[0],
            claim=Claim("hold", hold_id, principal.sub, now + HOLD_MINUTES * 60),
            person=stale,
        )
        try:
            repository.take_hold(write, now)
        except repository.ConditionFailed as lost:
            assert "person" in lost.failed
            return
        raise AssertionError("a second hold written on a stale read of the person")

    @rule(hold=consumes(held))
    def release(self, hold) -> None:  # type: ignore[no-untyped-def]
        if hold is None:
            return
        slot_id, hold_id, who = hold
        slot = self.slots[slot_id]
        had_place = any(r == hold_id for r, _ in slot.places.values())
        try:
            holds.release_hold(CITIZENS[who], hold_id)
            assert had_place, "released a hold that was consumed or replaced"
            slot.unclaim(hold_id)
        except TimebokError as error:
            assert error.code == "hold_not_found"
            assert not had_place, "could not release a hold that still had its place"
        if self.hold_of.get(who) == hold_id:
            del self.hold_of[who]

    @rule(target=made, hold=consumes(held), thief=st.booleans())
    def book_from_hold(self, hold, thief: bool):  # type: ignore[no-untyped-def]
        if hold is None:
            return None
        slot_id, hold_id, who = hold
        caller = CITIZENS[(who + 1) % len(CITIZENS)] if thief else CITIZENS[who]
        slot = self.slots[slot_id]
        now = self._now()
        live = slot.live_place_of(hold_id, now) is not None
        expected = not thief and live and slot.start > now and self._active(who, now) < LIMIT
        body = to_command(AppointmentIn(hold_id=hold_id, phone=make_phone(who), answers={}))
        try:
            made, _ = appointments.book(caller, body)
        except TimebokError as error:
            assert not expected, f"owner could not use a live hold: {error.code}"
            if thief:
                assert error.code == "hold_not_found", error.code
            return None
        assert expected, "a hold became an appointment: someone else's, expired, replaced or beyond the limit"
        slot.unclaim(hold_id)
        if self.hold_of.get(who) == hold_id:
            del self.hold_of[who]
        return self._made(made, slot, who)

    def _made(self, made, slot: ModelSlot, who: int) -> str:  # type: ignore[no-untyped-def]
        slot.places[int(made.place)] = (made.id, NEVER_EXPIRES)
        self.appointments[made.id] = ModelAppointment(made.id, "requested", slot.slot_id, who, slot.end)
        assert made.for_pid == CITIZENS[who].sub
        return made.id

    @rule(target=made, slot_index=st.integers(0, 3), who=st.integers(0, 3))
    def book_from_slot(self, slot_index: int, who: int):  # type: ignore[no-untyped-def]
        slot = list(self.slots.values())[slot_index]
        now = self._now()
        expected = slot.taken(now) < slot.capacity and slot.start > now and self._active(who, now) < LIMIT
        body = to_command(AppointmentIn(slot_id=slot.slot_id, phone=make_phone(who), answers={}))
        try:
            made, _ = appointments.book(CITIZENS[who], body)
        except TimebokError as error:
            assert not expected, f"booking refused with a free place: {error.code}"
            return None
        assert expected, "booked a full or started slot, or beyond the person's limit"
        return self._made(made, slot, who)

    def _free_place_of(self, appointment: ModelAppointment) -> None:
        self.slots[appointment.slot_id].unclaim(appointment.id)

    def _transition(self, appointment_id, expected: bool, run, new_status: str | None, frees: bool):  # type: ignore[no-untyped-def]
        if appointment_id is None:
            return None
        appointment = self.appointments[appointment_id]
        try:
            result = run(appointment)
        except TimebokError as error:
            assert not expected, f"refused a legal transition from {appointment.status}: {error.code}"
            assert error.status == 409
            return None
        assert expected, f"allowed a transition from {appointment.status}"
        appointment.events += 1
        if frees:
            self._free_place_of(appointment)
        if new_status:
            appointment.status = new_status
        assert result.status == appointment.status
        return result

    @rule(appointment_id=made)
    def confirm(self, appointment_id) -> None:  # type: ignore[no-untyped-def]
        status = self.appointments[appointment_id].status if appointment_id else None
        self._transition(
            appointment_id, status == "requested", lambda a: lifecycle.confirm(STAFF, a.id), "booked", frees=False
        )

    @rule(appointment_id=made)
    def reject(self, appointment_id) -> None:  # type: ignore[no-untyped-def]
        status = self.appointments[appointment_id].status if appointment_id else None
        self._transition(
            appointment_id,
            status == "requested",
            lambda a: lifecycle.reject(STAFF, a.id, "nei"),
            "rejected",
            frees=True,
        )

    @rule(appointment_id=made, by_staff=st.booleans())
    def cancel(self, appointment_id, by_staff: bool) -> None:  # type: ignore[no-untyped-def]
        if appointment_id is None:
            return

        def run(a: ModelAppointment):  # type: ignore[no-untyped-def]
            if by_staff:
                return lifecycle.cancel_as_staff(STAFF, a.id, "stengt")
            return lifecycle.cancel(CITIZENS[a.who], a.id)

        appointment = self.appointments[appointment_id]
        active = appointment.status in ("requested", "booked")
        start = self.slots[appointment.slot_id].start
        expected = active and (by_staff or self._now() < start)  # citizens: before the start (deadline 0 h)
        self._transition(appointment_id, expected, run, "cancelled", frees=True)

    @rule(appointment_id=made, slot_index=st.integers(0, 3))
    def reschedule(self, appointment_id, slot_index: int) -> None:  # type: ignore[no-untyped-def]
        if appointment_id is None:
            return
        appointment = self.appointments[appointment_id]
        target = list(self.slots.values())[slot_index]
        now = self._now()
        expected = (
            appointment.status in ("requested", "booked")
            and now < self.slots[appointment.slot_id].start
            and target.slot_id != appointment.slot_id
            and target.start > now
            and target.taken(now) < target.capacity
        )
        try:
            moved = lifecycle.reschedule(CITIZENS[appointment.who], appointment.id, target.slot_id)
        except TimebokError as error:
            assert not expected, f"reschedule refused with a free place: {error.code}"
            return
        assert expected, "rescheduled into a full slot, or from a final state"
        self._free_place_of(appointment)
        appointment.slot_id = target.slot_id
        appointment.end = target.end
        appointment.status = "requested"  # the timebook confirms: a moved appointment is a request again
        appointment.events += 1
        assert moved.status == "requested"
        target.places[int(moved.place)] = (appointment.id, NEVER_EXPIRES)

    @rule()
    def deliver_messages(self) -> None:
        """Relay the table's stream, let the consumer run (twice: the stream and SQS redeliver),
        and check that every transition produced exactly one inbox message (time passing, none)."""
        from chalicelib.messaging import consumer
        from chalicelib.messaging.local_consumer import drain_queue
        from tests.helpers import relay_stream

        assert relay_stream().failed == 0
        drain_queue(self.queue_url, consumer.handle_batch)
        relay_stream()
        drain_queue(self.queue_url, consumer.handle_batch)
        messages: dict[str, int] = {}
        for message in repository.inbox_of(c.sub for c in CITIZENS):
            messages[message.appointment_id] = messages.get(message.appointment_id, 0) + 1
        assert messages == {a.id: a.events for a in self.appointments.values()}

    @rule(minutes=st.sampled_from([1, 3, 6, 20]))
    def time_passes(self, minutes: int) -> None:
        clock.advance(timedelta(minutes=minutes))

    # ---- invariants ----

    @invariant()
    def never_more_than_capacity(self) -> None:
        now = self._now()
        for slot in self.slots.values():
            stored = repository.get_slot(slots.parse_slot(slot.slot_id), consistent=True)
            claims = stored.claims
            live = [c for c in claims.values() if c.live(now)]
            assert len(live) <= slot.capacity
            assert len(live) == slot.taken(now), "storage and model disagree on taken places"
            assert {p: c.ref for p, c in claims.items() if c.live(now)} == {
                p: c[0] for p, c in slot.places.items() if c[1] > now
            }

    @invariant()
    def one_live_hold_and_the_limit_per_person(self) -> None:
        now = self._now()
        live_holds: dict[str, int] = {}
        for slot in self.slots.values():
            stored = repository.get_slot(slots.parse_slot(slot.slot_id), consistent=True)
            for claim in stored.claims.values():
                if claim.kind == "hold" and claim.live(now):
                    live_holds[claim.owner] = live_holds.get(claim.owner, 0) + 1
        assert all(n <= 1 for n in live_holds.values()), live_holds
        for who, citizen in enumerate(CITIZENS):
            lanes = repository.get_person(self.timebook_id, citizen.sub).lanes
            occupied = sum(1 for lane in lanes.values() if lane.occupied(now))
            assert occupied <= LIMIT
            assert occupied == self._active(who, now), "stored lanes and the model's active appointments differ"


TestBookingInvariant = BookingMachine.TestCase
TestBookingInvariant.settings = settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "40")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # STATEFUL_NO_SHRINK=1 while debugging: shrinking a long stateful run can take minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("STATEFUL_NO_SHRINK")
    else [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
