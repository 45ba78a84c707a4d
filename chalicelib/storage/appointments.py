"""Appointments: the one guarded write that makes one (from a hold or straight from a slot), the
transition that changes one (state, version, the places it frees or takes), and the lists of
them (a person's, a timebook's by its sharded index)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.limits import Lane
from chalicelib.domain.model import (
    Appointment,
    AuditRecord,
    IdempotencyRecord,
    Location,
    Person,
)
from chalicelib.domain.slots import SlotRef
from chalicelib.storage import claims, keys, mapping
from chalicelib.storage.idempotency import key_unused
from chalicelib.storage.models import (
    AppointmentItem,
    plain,
)
from chalicelib.storage.transactions import (
    Transaction,
    get_item,
    is_condition_failure,
    retrying,
)

if TYPE_CHECKING:  # a list's paging, loaded by the request that pages (not by a booking's cold start)
    from chalicelib.domain.paging import PageRequest, Position


@dataclass(eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class Booking:
    """Everything the booking transaction writes (see `book`)."""

    appointment: Appointment
    slot: SlotRef
    place: int
    owner: str
    hold_id: str | None
    event: dict[str, str]  # the appointment's event (booking/events.change_event), on the item
    person: Person
    lane: int | None = None
    idempotency: IdempotencyRecord | None = None


def prepare_appointment(item: AppointmentItem) -> None:
    item.pk, item.sk = keys.appointment(item.id)
    item.gsi1pk = keys.appointments_of_person(item.for_pid)
    item.gsi1sk = keys.appointment_sort(item.start, item.id)
    item.gsi2pk = keys.appointments_of_timebook(plain(item.timebook)["id"], keys.appointment_shard(item.id))
    item.gsi2sk = keys.appointment_sort(item.start, item.id)


def book(booking: Booking, now_epoch: int, ends_epoch: int) -> None:
    """The one guarded write that makes an appointment: place, person, appointment (carrying its
    event, which the table's stream takes to the relay), key.

    From a hold: the place must still carry this caller's live hold, and the person's hold must
    be that hold (it is cleared). Straight from a slot: the place must be free by the capacity
    rule. With a per-person limit the lane must be free by domain/limits.py. Nothing is read
    first: the conditions decide. Raises ConditionFailed naming what lost.
    """
    appointment = mapping.appointment_item(booking.appointment)
    prepare_appointment(appointment)
    appointment.event = booking.event
    claim = Claim("appointment", appointment.id, booking.owner, NEVER_EXPIRES)
    if booking.hold_id:
        condition = claims.hold_is_usable(booking.place, booking.hold_id, booking.owner, now_epoch)
    else:
        condition = claims.place_is_free(booking.place, now_epoch)
    tx = Transaction()
    tx.update(
        "place", claims.slot_key_item(booking.slot), [claims.place_attr(booking.place).set(claim.as_item())], condition
    )
    tx.save("appointment", appointment, AppointmentItem.pk.does_not_exist())
    lane = (booking.lane, Lane(appointment.id, ends_epoch)) if booking.lane is not None else None
    if booking.hold_id or lane:
        claims.person_part(tx, booking.person, now_epoch, clear_hold=bool(booking.hold_id), lane=lane)
    if booking.idempotency is not None:
        tx.save("idempotency", mapping.idempotency_item(booking.idempotency), key_unused(now_epoch))
    tx.commit()


@dataclass(eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class Change:
    """One appointment transition, written at once with the places it frees or takes.

    The appointment's condition is its current state and version, so of two concurrent
    transitions (two staff confirming, a cancel racing a confirm) exactly one is written.
    """

    appointment: Appointment
    expected_status: Sequence[str]
    expected_version: int
    status: str  # the new state
    updated_at: str
    event: dict[str, str]  # the change's event (booking/events.change_event), written on the item
    free: tuple[SlotRef, int] | None = None  # the place the appointment gives back
    take: tuple[SlotRef, int, Claim] | None = None  # the place it moves to (reschedule)
    free_lane: bool = False  # it stops being active (cancel, reject): its lane is freed
    lane_ends_at: int | None = None  # it moves (reschedule): its lane now lasts until the new end
    audit: AuditRecord | None = None  # a staff action's audit record, written with it
    reason: str | None = None  # why (a rejection, a staff cancel), for the citizen to read
    move: Move | None = None  # where it moves to (reschedule)


@dataclass(frozen=True, eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class Move:
    """A rescheduled appointment's new slot, place and times (its index keys move with it)."""

    slot_id: str
    place: int
    start: str
    end: str
    minutes: int
    location: Location


def _change_actions(change: Change) -> list[Any]:
    """The appointment's update: its new state, and where it moves to; the version goes up by one."""
    actions = [
        AppointmentItem.status.set(change.status),
        AppointmentItem.updated_at.set(change.updated_at),
        AppointmentItem.version.set(change.expected_version + 1),
        AppointmentItem.event.set(change.event),
    ]
    if change.reason:
        actions.append(AppointmentItem.reason.set(change.reason))
    move = change.move
    if move is not None:
        sort = keys.appointment_sort(move.start, change.appointment.id)
        actions += [
            AppointmentItem.slot_id.set(move.slot_id),
            AppointmentItem.place.set(move.place),
            AppointmentItem.start.set(move.start),
            AppointmentItem.end.set(move.end),
            AppointmentItem.duration_minutes.set(move.minutes),
            AppointmentItem.location.set(mapping.location_item(move.location)),
            AppointmentItem.gsi1sk.set(sort),
            AppointmentItem.gsi2sk.set(sort),
        ]
    return actions


def change_appointment(change: Change, now_epoch: int) -> None:
    item = change.appointment
    tx = Transaction()
    tx.update(
        "appointment",
        AppointmentItem(*keys.appointment(item.id)),
        _change_actions(change),
        AppointmentItem.status.is_in(*change.expected_status) & (AppointmentItem.version == change.expected_version),
    )
    if change.free is not None:
        ref, place = change.free
        tx.update(
            "free", claims.slot_key_item(ref), [claims.place_attr(place).remove()], claims.claim_is(place, item.id)
        )
    lane = item.lane
    if lane is not None and (change.free_lane or change.lane_ends_at is not None):
        person = claims.person_key_item(item.timebook.id, item.for_pid)
        still_counts = claims.lane_attr(lane)["ref"] == item.id
        if change.free_lane:
            tx.update("lane", person, [claims.lane_attr(lane).remove()], still_counts)
        else:
            tx.update("lane", person, [claims.lane_attr(lane)["ends_at"].set(change.lane_ends_at)], still_counts)
    if change.take is not None:
        ref, place, claim = change.take
        tx.update(
            "take",
            claims.slot_key_item(ref),
            [claims.place_attr(place).set(claim.as_item())],
            claims.place_is_free(place, now_epoch),
        )
    if change.audit is not None:
        tx.save("audit", mapping.audit_item(change.audit))
    tx.commit()


def get_appointment(appointment_id: str, consistent: bool = False) -> Appointment | None:
    pk, sk = keys.appointment(appointment_id)
    item = get_item(AppointmentItem, pk, sk, consistent)
    return mapping.appointment(item) if item is not None else None


def appointments_of_people(pids: Iterable[str]) -> list[Appointment]:
    found: dict[str, AppointmentItem] = {}
    for pid in dict.fromkeys(pids):
        for item in AppointmentItem.by_person.query(keys.appointments_of_person(pid)):
            found[item.id] = item
    return [mapping.appointment(item) for item in sorted(found.values(), key=lambda a: (a.start, a.id))]


def _page(query: Any) -> tuple[list[Any], dict[str, Any] | None]:
    found = list(query)
    return found, query.last_evaluated_key


def appointments_of_people_page(pids: Sequence[str], page: PageRequest) -> tuple[list[Appointment], Position | None]:
    """One page of the appointments of several people, person by person, each by start."""
    from chalicelib.domain.paging import Position

    found: list[AppointmentItem] = []
    person, after = page.start.person, page.start.after
    while person < len(pids) and len(found) < page.limit:
        pid = pids[person]
        start_key = None
        if after:
            (appointment_id, sort) = after[:2]
            pk, sk = keys.appointment(appointment_id)
            start_key = {
                "pk": {"S": pk},
                "sk": {"S": sk},
                "gsi1pk": {"S": keys.appointments_of_person(pid)},
                "gsi1sk": {"S": sort},
            }
        query = AppointmentItem.by_person.query(
            keys.appointments_of_person(pid), limit=page.limit - len(found), last_evaluated_key=start_key
        )
        items, last = _page(query)
        found.extend(items)
        if last is not None and items:
            return _appointments(found), Position(person, (items[-1].id, items[-1].gsi1sk))
        person, after = person + 1, ()
    return _appointments(found), (Position(person, ()) if person < len(pids) else None)


def _appointments(items: Iterable[AppointmentItem]) -> list[Appointment]:
    return [mapping.appointment(item) for item in items]


def _timebook_appointments(
    timebook_id: str, day: date | None, status: str | None, after: str | None, limit: int | None
) -> tuple[list[AppointmentItem], str | None]:
    """A timebook's appointments by start, merged from its gsi2 shards (keys.APPOINTMENT_SHARDS).

    Each shard is read from just after `after` (the last sort key given) up to `limit` matching
    items. A shard that stopped short gave `limit` items, so the first `limit` of the merge are
    certainly the first overall; the page ends there. Returns the items and where the next page
    starts (None: the end)."""
    low = after + "\x01" if after else None  # sort keys are printable: nothing lies in between
    if day is not None:
        low = max(low or "", day.isoformat())
    high = f"{day.isoformat()}~" if day is not None else None  # "~" sorts after any time of the day
    if low is not None and high is not None:
        condition = AppointmentItem.gsi2sk.between(low, high)
    elif low is not None:
        condition = AppointmentItem.gsi2sk >= low
    else:
        condition = None
    status_filter = (AppointmentItem.status == status) if status else None
    found: list[AppointmentItem] = []
    more = False
    for partition in keys.appointments_of_timebook_all(timebook_id):
        query = AppointmentItem.by_timebook.query(partition, condition, filter_condition=status_filter, limit=limit)
        found.extend(query)
        more = more or query.last_evaluated_key is not None
    found.sort(key=lambda a: a.gsi2sk)
    if limit is not None and (more or len(found) > limit):
        found = found[:limit]
        return found, found[-1].gsi2sk
    return found, None


def appointments_of_timebook_page(
    timebook_id: str, page: PageRequest, *, day: date | None = None, status: str | None = None
) -> tuple[list[Appointment], Position | None]:
    from chalicelib.domain.paging import Position

    after = page.start.after[-1] if page.start.after else None
    items, next_after = _timebook_appointments(timebook_id, day, status, after, page.limit)
    return _appointments(items), (Position(0, (next_after,)) if next_after is not None else None)


def appointments_of_timebook(
    timebook_id: str, *, day: date | None = None, status: str | None = None
) -> list[Appointment]:
    return _appointments(_timebook_appointments(timebook_id, day, status, None, None)[0])


def mark_reminded(appointment_id: str, day: str, event: dict[str, str]) -> bool:
    """Write the reminder event on the appointment once per appointment and day, even if the
    schedule runs twice: one conditional UpdateItem (the stream takes the event to the relay)."""
    try:
        retrying(
            lambda: AppointmentItem(*keys.appointment(appointment_id)).update(
                actions=[AppointmentItem.reminded_on.set(day), AppointmentItem.event.set(event)],
                condition=(AppointmentItem.status == "booked")
                & (AppointmentItem.reminded_on.does_not_exist() | (AppointmentItem.reminded_on != day)),
            )
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
