"""The booking invariant, against a simple model (hypothesis stateful testing).

Whatever citizens do (hold, release, book from a hold or straight from a slot, let time pass),
no slot ever carries more live holds plus active appointments than its capacity, and every
operation succeeds exactly when the model says a place (or the hold) is there to take.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from chalicelib import clock
from chalicelib.booking import appointments, holds, lifecycle, setup
from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.holds import new_hold_id, parse_hold_id
from chalicelib.domain.people import Principal
from chalicelib.errors import TimebokError
from chalicelib.http.schemas import AppointmentIn, HealthContactIn, LocationIn, ScheduleIn, TimebookIn
from chalicelib.storage import repository
from tests.conftest import moto_aws
from tests.factories import make_phone, make_pid

HOLD_MINUTES = 5
STAFF = Principal(sub=make_pid(5000), role="staff", name="Staff", orgs=("900",))
CITIZENS = [Principal(sub=make_pid(5001 + n), role="citizen", name=f"C{n}") for n in range(4)]


@dataclass
class ModelSlot:
    slot_id: str
    capacity: int
    holds: dict[str, tuple[str, int]] = field(default_factory=dict)  # hold id -> (owner, expires epoch)
    appointments: set[str] = field(default_factory=set)
    places: dict[int, tuple[str, int]] = field(default_factory=dict)  # place -> (claim ref, expires epoch)

    def live_holds(self, now: int) -> dict[str, tuple[str, int]]:
        return {h: v for h, v in self.holds.items() if v[1] > now}

    def taken(self, now: int) -> int:
        return len(self.live_holds(now)) + len(self.appointments)

    def place_free(self, place: int, now: int) -> bool:
        return place < self.capacity and (place not in self.places or self.places[place][1] <= now)

    def claim(self, place: int, ref: str, expires: int) -> None:
        self.places[place] = (ref, expires)

    def unclaim(self, ref: str) -> None:
        self.places = {p: c for p, c in self.places.items() if c[0] != ref}


@dataclass
class ModelAppointment:
    id: str
    status: str
    slot_id: str
    for_pid: str
    who: int
    events: int = 1  # «requested» when it was made


class BookingMachine(RuleBasedStateMachine):
    held = Bundle("held")
    made = Bundle("made")

    def __init__(self) -> None:
        super().__init__()
        self._aws = contextlib.ExitStack()
        self.queue_url = self._aws.enter_context(moto_aws())["queue_url"]
        self.appointments: dict[str, ModelAppointment] = {}
        contact = setup.create_health_contact(
            STAFF, HealthContactIn(organisation="Testkommune", service="Smittevern", her_id="900")
        )
        book = setup.create_timebook(
            STAFF,
            TimebookIn.model_validate(
                {
                    "health_contact_id": contact.id,
                    "name": "Koronatest",
                    "type": "koronatest",
                    "resource": {"name": "Test"},
                    "requires_confirmation": True,
                    "hold_minutes": HOLD_MINUTES,
                    "max_active_per_person": None,
                }
            ),
        )
        self.timebook_id = book.id
        day = (clock.local(clock.now()) + timedelta(days=30)).date().isoformat()
        self.slots: dict[str, ModelSlot] = {}
        for capacity, end in ((2, "08:45"), (1, "08:15")):
            location = setup.add_location(STAFF, book.id, LocationIn(name=f"Sted {capacity}", address="Gaten 1"))
            setup.add_schedule(
                STAFF,
                book.id,
                ScheduleIn.model_validate(
                    {
                        "location_id": location["id"],
                        "from": day,
                        "to": day,
                        "weekdays": [1, 2, 3, 4, 5, 6, 7],
                        "start_time": "08:00",
                        "end_time": end,
                        "slot_minutes": 15,
                        "capacity": capacity,
                    }
                ),
            )
        from chalicelib.booking import discovery

        for availability in discovery.first_free(book.id, None, clock.local(clock.now()).date(), months=3):
            self.slots[availability.slot.slot_id] = ModelSlot(
                availability.slot.slot_id, int(availability.slot.capacity)
            )
        assert len(self.slots) == 4

    def teardown(self) -> None:
        self._aws.close()

    def _now(self) -> int:
        return clock.epoch()

    # ---- rules ----

    @rule(target=held, slot_index=st.integers(0, 3), who=st.integers(0, 3))
    def hold(self, slot_index: int, who: int):  # type: ignore[no-untyped-def]
        slot = list(self.slots.values())[slot_index]
        expected = slot.taken(self._now()) < slot.capacity
        try:
            made = holds.hold_slot(CITIZENS[who], slot.slot_id)
        except TimebokError as error:
            assert not expected, f"hold refused with a free place: {error.code}"
            assert error.code == "slot_unavailable"
            return None
        assert expected, "hold granted on a full slot"
        slot.holds[made.id] = (CITIZENS[who].sub, clock.epoch(made.expires_at))
        slot.claim(parse_hold_id(made.id).place, made.id, clock.epoch(made.expires_at))
        return (slot.slot_id, made.id, who)

    @rule(target=held, slot_index=st.integers(0, 3), place=st.integers(0, 2), who=st.integers(0, 3))
    def racing_hold(self, slot_index: int, place: int, who: int):  # type: ignore[no-untyped-def]
        """A concurrent request that read before the others wrote: it tries one place blindly.

        Only the guarded write stands between it and an overbooking."""
        slot = list(self.slots.values())[slot_index]
        now = self._now()
        hold_id = new_hold_id(slot.slot_id, place)
        expires = now + HOLD_MINUTES * 60
        claim = Claim("hold", hold_id, CITIZENS[who].sub, expires)
        try:
            repository.take_place_for_hold(holds.parse_slot(slot.slot_id), place, claim, now)
        except repository.ConditionFailed:
            assert not slot.place_free(place, now), "a free place was refused"
            return None
        assert slot.place_free(place, now), "the guarded write took a taken place"
        slot.holds[hold_id] = (CITIZENS[who].sub, expires)
        slot.claim(place, hold_id, expires)
        return (slot.slot_id, hold_id, who)

    @rule(hold=consumes(held))
    def release(self, hold) -> None:  # type: ignore[no-untyped-def]
        if hold is None:
            return
        slot_id, hold_id, who = hold
        slot = self.slots[slot_id]
        try:
            holds.release_hold(CITIZENS[who], hold_id)
            assert hold_id in slot.holds, "released a hold that was consumed"
            slot.unclaim(hold_id)
        except TimebokError as error:
            assert error.code == "hold_not_found"
            # Only a consumed hold, or an expired one whose place was taken again, is not found.
            assert hold_id not in slot.holds or slot.holds[hold_id][1] <= self._now()
        slot.holds.pop(hold_id, None)

    @rule(target=made, hold=consumes(held), thief=st.booleans())
    def book_from_hold(self, hold, thief: bool):  # type: ignore[no-untyped-def]
        if hold is None:
            return None
        slot_id, hold_id, who = hold
        caller = CITIZENS[(who + 1) % len(CITIZENS)] if thief else CITIZENS[who]
        slot = self.slots[slot_id]
        live = hold_id in slot.live_holds(self._now())
        body = AppointmentIn(hold_id=hold_id, phone=make_phone(who), answers={})
        try:
            made, _ = appointments.book(caller, body)
        except TimebokError as error:
            assert thief or not live, f"owner could not use a live hold: {error.code}"
            if not thief:
                slot.holds.pop(hold_id, None)
            return None
        assert not thief, "someone else's hold became an appointment"
        assert live, "an expired hold became an appointment"
        slot.holds.pop(hold_id)
        slot.unclaim(hold_id)
        return self._made(made, slot, who)

    def _made(self, made, slot: ModelSlot, who: int) -> str:  # type: ignore[no-untyped-def]
        slot.appointments.add(made.id)
        slot.claim(int(made.place), made.id, NEVER_EXPIRES)
        self.appointments[made.id] = ModelAppointment(made.id, "requested", slot.slot_id, made.for_pid, who)
        return made.id

    @rule(target=made, slot_index=st.integers(0, 3), who=st.integers(0, 3))
    def book_from_slot(self, slot_index: int, who: int):  # type: ignore[no-untyped-def]
        slot = list(self.slots.values())[slot_index]
        expected = slot.taken(self._now()) < slot.capacity
        body = AppointmentIn(slot_id=slot.slot_id, phone=make_phone(who), answers={})
        try:
            made, _ = appointments.book(CITIZENS[who], body)
        except TimebokError as error:
            assert not expected, f"booking refused with a free place: {error.code}"
            return None
        assert expected, "booked a full slot"
        return self._made(made, slot, who)

    def _free_place_of(self, appointment: ModelAppointment) -> None:
        slot = self.slots[appointment.slot_id]
        slot.appointments.discard(appointment.id)
        slot.unclaim(appointment.id)

    def _transition(self, appointment_id, allowed: set[str], run, new_status: str | None, frees: bool):  # type: ignore[no-untyped-def]
        if appointment_id is None:
            return None
        appointment = self.appointments[appointment_id]
        expected = appointment.status in allowed
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
        self._transition(appointment_id, {"requested"}, lambda a: lifecycle.confirm(STAFF, a.id), "booked", frees=False)

    @rule(appointment_id=made)
    def reject(self, appointment_id) -> None:  # type: ignore[no-untyped-def]
        self._transition(
            appointment_id, {"requested"}, lambda a: lifecycle.reject(STAFF, a.id, "nei"), "rejected", frees=True
        )

    @rule(appointment_id=made, by_staff=st.booleans())
    def cancel(self, appointment_id, by_staff: bool) -> None:  # type: ignore[no-untyped-def]
        def run(a: ModelAppointment):  # type: ignore[no-untyped-def]
            if by_staff:
                return lifecycle.cancel_as_staff(STAFF, a.id, "stengt")
            return lifecycle.cancel(CITIZENS[a.who], a.id)

        self._transition(appointment_id, {"requested", "booked"}, run, "cancelled", frees=True)

    @rule(appointment_id=made, slot_index=st.integers(0, 3))
    def reschedule(self, appointment_id, slot_index: int) -> None:  # type: ignore[no-untyped-def]
        if appointment_id is None:
            return
        appointment = self.appointments[appointment_id]
        target = list(self.slots.values())[slot_index]
        now = self._now()
        expected = (
            appointment.status in ("requested", "booked")
            and target.slot_id != appointment.slot_id
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
        appointment.events += 1
        target.appointments.add(appointment.id)
        target.claim(int(moved.place), appointment.id, NEVER_EXPIRES)

    @rule()
    def deliver_messages(self) -> None:
        """Relay what is left in the outbox, let the consumer run (twice: SQS redelivers), and
        check that every transition produced exactly one inbox message."""
        from chalicelib.messaging import consumer, relay
        from chalicelib.messaging.local_consumer import drain_queue

        relay.relay_pending()
        drain_queue(self.queue_url, consumer.handle_batch)
        relay.relay_pending()
        drain_queue(self.queue_url, consumer.handle_batch)
        assert repository.pending_events() == []
        messages: dict[str, int] = {}
        for message in repository.inbox_of(c.sub for c in CITIZENS):
            messages[message.appointment_id] = messages.get(message.appointment_id, 0) + 1
        assert messages == {a.id: a.events for a in self.appointments.values()}

    @rule(minutes=st.sampled_from([1, 3, 6]))
    def time_passes(self, minutes: int) -> None:
        clock.advance(timedelta(minutes=minutes))

    # ---- invariants ----

    @invariant()
    def never_more_than_capacity(self) -> None:
        now = self._now()
        for slot in self.slots.values():
            ref = holds.parse_slot(slot.slot_id)
            stored = repository.get_slot(ref, consistent=True)
            claims = repository.claims_of(stored)
            live = [c for c in claims.values() if c.live(now)]
            assert len(live) <= slot.capacity
            assert len(live) == slot.taken(now), "storage and model disagree on taken places"
            assert {c.ref for c in live if c.kind == "appointment"} == slot.appointments
            assert {p: c.ref for p, c in claims.items() if c.live(now)} == {
                p: c[0] for p, c in slot.places.items() if c[1] > now
            }


TestBookingInvariant = BookingMachine.TestCase
TestBookingInvariant.settings = settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "40")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
