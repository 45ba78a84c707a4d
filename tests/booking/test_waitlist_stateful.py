"""Waitlist offers against the booking invariant (hypothesis stateful testing).

Citizens join and leave the waitlist, hold, book (from slots and from offers), cancel, staff
change capacity, time passes and the sweep runs; stale "racing" offers try places blindly. After
every step, read from the table itself:

- no slot carries more live claims than its capacity, and none outside its places;
- every live offer is the live hold on its own place, for the entry's owner, and no two offers,
  or an offer and an appointment, share a place (so offers never exceed the places freed);
- every active appointment holds its own place;
- a person has at most one live entry per timebook;
- right after the sweep, no entry waits while a place it matches is free.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chalicelib import clock
from chalicelib.booking import appointments, housekeeping, lifecycle, setup, slot_admin, waitlist
from chalicelib.domain.capacity import Claim
from chalicelib.domain.holds import new_hold_id
from chalicelib.domain.people import Principal
from chalicelib.domain.slots import parse_slot_id
from chalicelib.domain.waitlist import EntryStatus, Offer
from chalicelib.errors import TimebokError
from chalicelib.http.commands import to_command
from chalicelib.http.schemas import (
    AppointmentIn,
    HealthContactIn,
    LocationIn,
    ScheduleIn,
    SlotPatchIn,
    TimebookIn,
    WaitlistIn,
)
from chalicelib.storage import repository
from chalicelib.storage import waitlist as storage
from chalicelib.storage.models import AppointmentItem, WaitlistEntryItem
from tests.conftest import moto_aws
from tests.factories import make_phone, make_pid

STAFF = Principal(sub=make_pid(6000), role="staff", name="Staff", orgs=("901",))
CITIZENS = [Principal(sub=make_pid(6001 + n), role="citizen", name=f"W{n}") for n in range(5)]
OFFER_MINUTES = 20


class WaitlistMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._aws = contextlib.ExitStack()
        self._aws.enter_context(moto_aws())
        contact = setup.create_health_contact(
            STAFF, to_command(HealthContactIn(organisation="Testkommune", service="Lab", her_id="901"))
        )
        book = setup.create_timebook(
            STAFF,
            to_command(
                TimebookIn.model_validate(
                    {
                        "health_contact_id": contact.id,
                        "name": "Blodprøve",
                        "type": "lab",
                        "resource": {"name": "Lab"},
                        "requires_confirmation": False,
                        "cancel_deadline_hours": 0,
                        "max_active_per_person": None,
                        "waitlist_offer_minutes": OFFER_MINUTES,
                    }
                )
            ),
        )
        self.timebook_id = book.id
        location = setup.add_location(STAFF, book.id, to_command(LocationIn(name="Lab", address="Gaten 1")))
        day = (clock.local(clock.now()) + timedelta(days=20)).date().isoformat()
        setup.add_schedule(
            STAFF,
            book.id,
            to_command(
                ScheduleIn.model_validate(
                    {
                        "location_id": location.id,
                        "from": day,
                        "to": day,
                        "weekdays": [1, 2, 3, 4, 5, 6, 7],
                        "start_time": "08:00",
                        "end_time": "08:30",
                        "slot_minutes": 15,
                        "capacity": 1,
                    }
                )
            ),
        )
        self.slot_ids = [
            s.slot_id
            for s in repository.slots_between(
                book.id, clock.local(clock.now()).date(), clock.local(clock.now()).date() + timedelta(days=30)
            )
        ]
        assert len(self.slot_ids) == 2
        self.appointment_ids: list[str] = []

    def teardown(self) -> None:
        self._aws.close()

    # ---- what is in the table ----

    def _slots(self) -> list:
        return [repository.get_slot(parse_slot_id(s), consistent=True) for s in self.slot_ids]

    def _entries(self) -> list[WaitlistEntryItem]:
        found = []
        for citizen in CITIZENS:
            found.extend(WaitlistEntryItem.by_person.query(f"WLP#{citizen.sub}"))
        return [storage.get_entry(e.id, consistent=True) for e in found]

    def _live_entry(self, who: int) -> WaitlistEntryItem | None:
        live = [
            e
            for e in self._entries()
            if e.for_pid == CITIZENS[who].sub and EntryStatus(e.status) in (EntryStatus.WAITING, EntryStatus.OFFERED)
        ]
        return live[0] if live else None

    # ---- rules ----

    @rule(who=st.integers(0, 4))
    def join(self, who: int) -> None:
        try:
            waitlist.join(CITIZENS[who], to_command(WaitlistIn(timebook_id=self.timebook_id)))
        except TimebokError as error:
            assert error.code == "already_waiting"
            assert waitlist.status_of(self._live_entry(who)) in (EntryStatus.WAITING, EntryStatus.OFFERED)

    @rule(who=st.integers(0, 4))
    def withdraw(self, who: int) -> None:
        entry = self._live_entry(who)
        if entry is not None:
            with contextlib.suppress(TimebokError):
                waitlist.withdraw(CITIZENS[who], entry.id)

    @rule(who=st.integers(0, 4))
    def book_offer(self, who: int) -> None:
        entry = self._live_entry(who)
        offer = waitlist.offer_of(entry) if entry else None
        if offer is None:
            return
        body = to_command(AppointmentIn(hold_id=offer.hold_id, phone=make_phone(who), answers={}))
        try:
            made, _ = appointments.book(CITIZENS[who], body)
        except TimebokError as error:
            assert not offer.live(clock.epoch()), f"a live offer could not be booked: {error.code}"
            return
        self.appointment_ids.append(made.id)
        event("an offer booked")
        assert storage.get_entry(entry.id, consistent=True).status == "booked"

    @rule(who=st.integers(0, 4), slot=st.integers(0, 1))
    def book_slot(self, who: int, slot: int) -> None:
        body = to_command(AppointmentIn(slot_id=self.slot_ids[slot], phone=make_phone(who), answers={}))
        with contextlib.suppress(TimebokError):
            made, _ = appointments.book(CITIZENS[who], body)
            self.appointment_ids.append(made.id)

    @rule(index=st.integers(0, 20))
    def cancel(self, index: int) -> None:
        if not self.appointment_ids:
            return
        appointment_id = self.appointment_ids[index % len(self.appointment_ids)]
        item = repository.get_appointment(appointment_id, consistent=True)
        owner = next(c for c in CITIZENS if c.sub == item.booked_by)
        with contextlib.suppress(TimebokError):
            lifecycle.cancel(owner, appointment_id)

    @rule(slot=st.integers(0, 1), capacity=st.integers(0, 3))
    def change_capacity(self, slot: int, capacity: int) -> None:
        with contextlib.suppress(TimebokError):
            slot_admin.change(STAFF, self.slot_ids[slot], to_command(SlotPatchIn(capacity=capacity)))

    @rule(who=st.integers(0, 4), slot=st.integers(0, 1), place=st.integers(0, 2))
    def racing_offer(self, who: int, slot: int, place: int) -> None:
        """An offer made from a stale read: only the guarded transaction stands in its way."""
        entry = self._live_entry(who)
        if entry is None:
            return
        entry = replace(entry, status="waiting")  # what a stale reader believed
        now = clock.epoch()
        hold_id = new_hold_id(self.slot_ids[slot], place, lane=None, minutes=15, for_pid=entry.for_pid, offer=True)
        claim = Claim("hold", hold_id, entry.owner, now + 600, waitlist=entry.id)
        offer = Offer(hold_id, self.slot_ids[slot], place, "x", "x", now + 600)
        tb = repository.get_timebook(self.timebook_id)
        told = waitlist.waitlist_event(tb, entry, "offer", start="2030-01-01T08:00:00+01:00")
        with contextlib.suppress(repository.ConditionFailed):
            event("a racing offer tried")
            storage.offer(
                storage.NewOffer(entry, parse_slot_id(self.slot_ids[slot]), place, claim, offer, told, "x"), now
            )

    @rule(minutes=st.sampled_from([1, 5, 21]))
    def time_passes(self, minutes: int) -> None:
        clock.advance(timedelta(minutes=minutes))

    @rule()
    def sweep(self) -> None:
        housekeeping.release_expired_holds()
        now = clock.now()
        waiting = [e for e in self._entries() if waitlist.status_of(e) == EntryStatus.WAITING]
        if waiting:
            free = sum(len(s.free_places(now)) for s in self._slots())
            assert free == 0, "an entry waits while a place is free, after the sweep"

    # ---- invariants ----

    @invariant()
    def places_are_never_given_twice(self) -> None:
        now = clock.epoch()
        claims_by_place: dict[tuple[str, int], dict] = {}
        for slot in self._slots():
            live = {p: c.as_item() for p, c in slot.claims.items() if c.expires_at > now}
            assert all(p < int(slot.capacity) for p in live), f"a live claim outside capacity: {sorted(live)}"
            for place, claim in live.items():
                claims_by_place[(slot.slot_id, place)] = claim
        offers_seen: set[tuple[str, int]] = set()
        for entry in self._entries():
            status = waitlist.status_of(entry)
            if status != EntryStatus.OFFERED:
                continue
            offer = waitlist.offer_of(entry)
            key = (offer.slot_id, offer.place)
            assert key not in offers_seen, "two live offers share a place"
            offers_seen.add(key)
            event("a live offer")
            claim = claims_by_place.get(key)
            assert claim is not None and claim["ref"] == offer.hold_id, "a live offer without its hold"
            assert claim["kind"] == "hold" and claim["owner"] == entry.owner
        for appointment_id in self.appointment_ids:
            item: AppointmentItem = repository.get_appointment(appointment_id, consistent=True)
            if item.status in ("requested", "booked"):
                claim = claims_by_place.get((item.slot_id, int(item.place)))
                assert claim is not None and claim["ref"] == item.id, "an active appointment lost its place"

    @invariant()
    def one_live_entry_per_person(self) -> None:
        for who in range(len(CITIZENS)):
            live = [
                e
                for e in self._entries()
                if e.for_pid == CITIZENS[who].sub
                and waitlist.status_of(e) in (EntryStatus.WAITING, EntryStatus.OFFERED)
            ]
            assert len(live) <= 1, "two live entries for one person"


WaitlistMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "10")),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestWaitlistInvariant = WaitlistMachine.TestCase
