"""Holds and people: the one transaction that takes a place as a hold (capacity rule, one live
hold per person, the per-person limit), giving a hold back, and reading a person in a timebook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.capacity import Claim
from chalicelib.domain.model import (
    IdempotencyRecord,
    Person,
    Slot,
)
from chalicelib.domain.slots import SlotRef
from chalicelib.errors import Unavailable
from chalicelib.storage import claims, keys, mapping
from chalicelib.storage.idempotency import key_unused
from chalicelib.storage.models import (
    PersonItem,
    SlotItem,
    WaitlistsItem,
    table_name,
)
from chalicelib.storage.transactions import (
    ConditionFailed,
    Transaction,
    connection,
    get_item,
    is_condition_failure,
    retrying,
)


def read_slot_and_person(ref: SlotRef, pid: str) -> tuple[Slot | None, Person]:
    """The slot and the person (in this slot's timebook) in one consistent BatchGetItem."""
    slot, person, _ = _read(ref, pid, with_gate=False)
    return slot, person


def read_hold_state(ref: SlotRef, pid: str) -> tuple[Slot | None, Person, str | None]:
    """As `read_slot_and_person`, and the waitlist gate of the timebook in the same request: the
    stamp of its waitlist registry (None: the timebook never had a waitlist; "" an old registry
    without a stamp). A hold conditioned on it (`HoldWrite.waitlist_gate`) cannot pass over
    someone who started to wait after this read."""
    return _read(ref, pid, with_gate=True)


def read_person_and_gate(timebook_id: str, pid: str) -> tuple[Person, str | None]:
    """The person and the timebook's waitlist gate (as `read_hold_state`) in one consistent
    BatchGetItem, without a slot: "first available" has just read its candidates' slots
    consistently, so it reads these once per request instead of slot, person and gate per attempt."""
    found = _batch_get([keys.person(timebook_id, pid), keys.waitlists(timebook_id)])
    return _person(found, timebook_id, pid), _gate(found, timebook_id)


def _read(ref: SlotRef, pid: str, *, with_gate: bool) -> tuple[Slot | None, Person, str | None]:
    slot_key = keys.slot(ref)
    gate_key = [keys.waitlists(ref.timebook_id)] if with_gate else []
    found = _batch_get([slot_key, keys.person(ref.timebook_id, pid), *gate_key])
    slot = SlotItem.from_raw_data(found[slot_key]) if slot_key in found else None
    if slot is not None and slot.slot_id != ref.slot_id:
        slot = None
    gate = _gate(found, ref.timebook_id) if with_gate else None
    return (mapping.slot(slot) if slot else None), _person(found, ref.timebook_id, pid), gate


def _batch_get(wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """These items by key, in one consistent BatchGetItem (unprocessed keys asked again, twice)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(3):
        raw_keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted]
        answer = connection().dispatch(
            "BatchGetItem", {"RequestItems": {table_name(): {"Keys": raw_keys, "ConsistentRead": True}}}
        )
        for item in answer.get("Responses", {}).get(table_name(), []):
            found[(item["pk"]["S"], item["sk"]["S"])] = item
        left = answer.get("UnprocessedKeys", {}).get(table_name(), {}).get("Keys", [])
        wanted = [(k["pk"]["S"], k["sk"]["S"]) for k in left]
        if not wanted:
            return found
    raise Unavailable()


def _person(found: dict[tuple[str, str], dict[str, Any]], timebook_id: str, pid: str) -> Person:
    person_key = keys.person(timebook_id, pid)
    item = PersonItem.from_raw_data(found[person_key]) if person_key in found else None
    return mapping.person(timebook_id, pid, item)


def _gate(found: dict[tuple[str, str], dict[str, Any]], timebook_id: str) -> str | None:
    """The registry's stamp; None: the timebook never had a waitlist; "": an old registry without one."""
    gate_key = keys.waitlists(timebook_id)
    return WaitlistsItem.from_raw_data(found[gate_key]).stamp or "" if gate_key in found else None


@dataclass(eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class HoldWrite:
    """Everything the hold transaction writes (see `take_hold`)."""

    slot: SlotRef
    place: int
    claim: Claim
    person: Person
    free_old: tuple[SlotRef, int, str] | None = None  # the replaced live hold: slot, place, id
    lane: int | None = None  # a lane the person must still have free (the per-person limit)
    idempotency: IdempotencyRecord | None = None
    waitlist_gate: str | None = None  # the waitlist registry's stamp as read (None: not checked)


def take_hold(write: HoldWrite, now_epoch: int) -> None:
    """One transaction: take a free place by the capacity rule, free the person's previous live
    hold, and make the new one their hold, if their hold is still the one read and a lane is
    free; and, with `waitlist_gate`, nobody started to wait in the timebook since it was read.
    Raises ConditionFailed naming what lost: waitlist, place, old, person, idempotency, conflict."""
    tx = Transaction()
    if write.waitlist_gate is not None:
        gate = WaitlistsItem.stamp
        pk, sk = keys.waitlists(write.slot.timebook_id)
        tx.check(
            "waitlist",
            WaitlistsItem,
            pk,
            sk,
            (gate == write.waitlist_gate) if write.waitlist_gate else gate.does_not_exist(),
        )
    # No sweep index entry (gsi2 `SWEEP#n`) for a citizen's hold: an expired hold is free by the
    # capacity rule and the next claim of its place overwrites it, and the places map is bounded
    # by the capacity, so tidying it bought nothing but 1 WCU on the hold and 1 on the booking.
    # Waitlist offers still carry it (storage/waitlist.py): the sweep moves lapsed offers on.
    actions = [claims.place_attr(write.place).set(write.claim.as_item())]
    condition = claims.place_is_free(write.place, now_epoch)
    if write.free_old is not None:
        old_ref, old_place, old_id = write.free_old
        if old_ref.slot_id == write.slot.slot_id and old_place == write.place:
            condition = SlotItem.pk.exists() & claims.claim_is(old_place, old_id)  # the same place, held anew
        elif old_ref.slot_id == write.slot.slot_id:
            # The same item cannot be two parts of one transaction: one update does both.
            actions.append(claims.place_attr(old_place).remove())
            condition &= claims.claim_is(old_place, old_id)
        else:
            tx.update(
                "old",
                claims.slot_key_item(old_ref),
                [claims.place_attr(old_place).remove()],
                claims.claim_is(old_place, old_id),
            )
    tx.update("place", claims.slot_key_item(write.slot), actions, condition)
    claims.person_part(
        tx, write.person, now_epoch, set_hold=(write.claim.ref, write.claim.expires_at), lane_free=write.lane
    )
    if write.idempotency is not None:
        tx.save("idempotency", mapping.idempotency_item(write.idempotency), key_unused(now_epoch))
    tx.commit()


def release_place(ref: SlotRef, place: int, claim_ref: str, owner: str | None = None) -> None:
    """Free a place, but only if it still carries this claim (and, for holds, this owner)."""
    condition = claims.claim_is(place, claim_ref)
    if owner is not None:
        condition &= claims.place_attr(place)["owner"] == owner
    try:
        retrying(
            lambda: claims.slot_key_item(ref).update(actions=[claims.place_attr(place).remove()], condition=condition)
        )
    except UpdateError as error:
        if is_condition_failure(error):
            raise ConditionFailed(["place"]) from error
        raise


def forget_hold(timebook_id: str, pid: str, hold_id: str) -> None:
    """After a release: the person's pointer to that hold goes too (best effort; a stale pointer
    only costs the next hold one retry)."""
    try:
        retrying(
            lambda: claims.person_key_item(timebook_id, pid).update(
                actions=claims.forget_hold_actions(), condition=PersonItem.hold == hold_id
            )
        )
    except UpdateError as error:
        if not is_condition_failure(error):
            raise


def get_person(timebook_id: str, pid: str) -> Person:
    pk, sk = keys.person(timebook_id, pid)
    return mapping.person(timebook_id, pid, get_item(PersonItem, pk, sk, consistent=True))
