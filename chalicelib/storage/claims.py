"""The rules that guard scarce places, said in DynamoDB's language: conditions on a slot's places
(the capacity rule of domain/capacity.py, the hold rule of domain/holds.py) and on a person's
hold and lanes (one live hold per person, the per-person limit of domain/limits.py).

Every write that takes, frees or uses a place builds its condition here, whichever storage
module writes it (repository, waitlist, staffwork).
"""

from __future__ import annotations

from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.domain.limits import Lane
from chalicelib.domain.model import Person
from chalicelib.domain.slots import SlotRef
from chalicelib.storage import keys
from chalicelib.storage.models import PersonItem, SlotItem
from chalicelib.storage.transactions import Transaction

# ---- a slot's places ------------------------------------------------------------------------------


def place_attr(number: int):  # type: ignore[no-untyped-def]
    """A place of a slot: its claim, if any (a map attribute path)."""
    return SlotItem.places[str(number)]


def slot_key_item(ref: SlotRef) -> SlotItem:
    """A slot item with its keys only: the target of an update."""
    pk, sk = keys.slot(ref)
    return SlotItem(pk, sk)


def slot_is_open() -> Condition:
    """A slot staff closed takes no new claims (issue 13)."""
    return SlotItem.closed.does_not_exist() | (SlotItem.closed == False)  # noqa: E712 (a condition)


def place_unclaimed(number: int, now_epoch: int) -> Condition:
    """No live claim on the place: none, or one that has expired (domain/capacity.place_is_free)."""
    claim = place_attr(number)
    return claim.does_not_exist() | (claim["expires_at"] <= now_epoch)


def place_is_free(number: int, now_epoch: int) -> Condition:
    """The capacity rule of domain/capacity.py: the slot exists and is open, the place is one of
    its capacity, and it carries no live claim."""
    return SlotItem.pk.exists() & (SlotItem.capacity > number) & slot_is_open() & place_unclaimed(number, now_epoch)


def hold_is_usable(number: int, hold_id: str, owner: str, now_epoch: int) -> Condition:
    """The hold rule of domain/holds.py (`refusal`): the place still carries this very hold, of
    this owner, and it has not expired; and the slot is open. (Not begun is checked from the hold
    id before the write: the slot's start is in it.)"""
    claim = place_attr(number)
    return (claim["ref"] == hold_id) & (claim["owner"] == owner) & (claim["expires_at"] > now_epoch) & slot_is_open()


def claim_is(number: int, ref: str) -> Condition:
    """The place still carries this claim (a hold id or an appointment id)."""
    return place_attr(number)["ref"] == ref


# ---- a person in a timebook: one live hold, and the per-person limit ---------------------------------


def person_key_item(timebook_id: str, pid: str) -> PersonItem:
    pk, sk = keys.person(timebook_id, pid)
    return PersonItem(pk, sk)


def lane_attr(number: int):  # type: ignore[no-untyped-def]
    """A lane of a person: the active appointment that counts against their limit."""
    return PersonItem.lanes[str(number)]


def lane_is_free(number: int, now_epoch: int) -> Condition:
    """The per-person rule of domain/limits.py as a DynamoDB condition."""
    return lane_attr(number).does_not_exist() | (lane_attr(number)["ends_at"] <= now_epoch)


def person_part(
    tx: Transaction,
    seen: Person,
    now_epoch: int,
    *,
    set_hold: tuple[str, int] | None = None,
    clear_hold: bool = False,
    lane: tuple[int, Lane] | None = None,
    lane_free: int | None = None,
) -> None:
    """The person's part of a hold or booking: their hold is still the one seen (so two holds
    at once cannot both win: one live hold per person), and the lane taken is free."""
    if not seen.exists:
        pk, sk = keys.person(seen.timebook_id, seen.pid)
        item = PersonItem(pk, sk, lanes={})
        if set_hold:
            item.hold, item.hold_expires_at = set_hold
        if lane:
            item.lanes = {str(lane[0]): lane[1].as_item()}
        tx.save("person", item, PersonItem.pk.does_not_exist())
        return
    actions: list[Any] = []
    condition = PersonItem.pk.exists()
    condition &= (PersonItem.hold == seen.hold) if seen.hold else PersonItem.hold.does_not_exist()
    if set_hold:
        actions += [PersonItem.hold.set(set_hold[0]), PersonItem.hold_expires_at.set(set_hold[1])]
    elif clear_hold:
        actions += forget_hold_actions()
    if lane:
        actions.append(lane_attr(lane[0]).set(lane[1].as_item()))
        condition &= lane_is_free(lane[0], now_epoch)
    elif lane_free is not None:
        condition &= lane_is_free(lane_free, now_epoch)
    tx.update("person", person_key_item(seen.timebook_id, seen.pid), actions, condition)


def forget_hold_actions() -> list[Any]:
    return [PersonItem.hold.remove(), PersonItem.hold_expires_at.remove()]
