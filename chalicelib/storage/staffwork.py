"""Staff changes to existing slots (capacity, closing), closures' progress records, and the audit log.

Each slot change is one conditional update of the slot item written together with its audit
record; lowering a capacity is conditioned on the places it removes being free (the capacity
rule of domain/capacity.py), so no claim is ever left outside a slot's places.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.closures import Closure
from chalicelib.domain.model import AuditRecord
from chalicelib.domain.slots import SlotRef
from chalicelib.storage import keys, mapping
from chalicelib.storage.claims import place_attr, place_unclaimed, slot_is_open, slot_key_item
from chalicelib.storage.models import AuditItem, MarkerItem, SlotItem, plain
from chalicelib.storage.slots import invalidate_summary
from chalicelib.storage.transactions import Transaction, is_condition_failure, retrying

# The names a fake replaces (storage/repository.py says how).
__all__ = [
    "add_audit",
    "audit_log",
    "change_slot",
    "checkpoint_closure",
    "close_slot",
    "finish_closure",
    "get_closure",
    "start_closure",
    "unfinished_closures",
]


def change_slot(
    ref: SlotRef,
    expected_capacity: int,
    capacity: int | None,
    closed: bool | None,
    audit: AuditRecord,
    now_epoch: int,
) -> None:
    """Set a slot's capacity and/or closed flag, with its audit record, at once.

    Conditioned on the capacity read (two staff editing at once: one wins, the other re-reads)
    and, when lowering, on every place at or above the new capacity being free. ConditionFailed
    names "slot"."""
    actions: list[Any] = []
    condition = SlotItem.pk.exists() & (SlotItem.capacity == expected_capacity)
    if capacity is not None:
        actions.append(SlotItem.capacity.set(capacity))
        for place in range(capacity, expected_capacity):
            condition &= place_unclaimed(place, now_epoch)
            actions.append(place_attr(place).remove())  # lapsed holds there are tidied away
    if closed is not None:
        actions.append(SlotItem.closed.set(closed))
    tx = Transaction()
    tx.update("slot", slot_key_item(ref), actions, condition)
    tx.save("audit", mapping.audit_item(audit))
    tx.commit()
    invalidate_summary(ref.timebook_id, ref.local_date, ref.location_id)  # the next reader recounts


def close_slot(ref: SlotRef, recount: bool = True) -> bool:
    """Close a slot for new claims; False if it was closed already (or is gone). With
    `recount=False` the caller makes the day's summary recount once for many slots."""
    condition = SlotItem.pk.exists() & slot_is_open()
    try:
        retrying(lambda: slot_key_item(ref).update(actions=[SlotItem.closed.set(True)], condition=condition))
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    if recount:
        invalidate_summary(ref.timebook_id, ref.local_date, ref.location_id)  # the next reader recounts
    return True


# ---- closures: a record per closure, so an unfinished one is found and finished ------------------


def start_closure(timebook_id: str, closure_id: str, detail: dict[str, Any], audit: AuditRecord) -> None:
    """Record a closure (with its audit record) before it changes anything; a repeat of the same
    closure records it again as unfinished, so whatever it still has to do is finished too."""
    pk, sk = keys.closure(timebook_id, closure_id)
    record = MarkerItem(
        pk,
        sk,
        state="running",
        detail=detail,
        gsi2pk=keys.UNFINISHED_CLOSURES,
        gsi2sk=keys.unfinished_closure_sort(timebook_id, closure_id),
    )
    tx = Transaction()
    tx.save("closure", record)
    tx.save("audit", mapping.audit_item(audit))
    tx.commit()


def finish_closure(timebook_id: str, closure_id: str, totals: dict[str, int]) -> None:
    """The closure is done: it leaves the unfinished index and keeps what it did."""
    retrying(
        lambda: MarkerItem(*keys.closure(timebook_id, closure_id)).update(
            actions=[
                MarkerItem.state.set("done"),
                MarkerItem.detail["totals"].set(totals),
                MarkerItem.gsi2pk.remove(),
                MarkerItem.gsi2sk.remove(),
            ]
        )
    )


def checkpoint_closure(timebook_id: str, closure_id: str, progress: dict[str, int]) -> None:
    """Save an unfinished closure's counts and how far it got (it stays in the unfinished index);
    a run that finished it meanwhile keeps its totals."""
    try:
        retrying(
            lambda: MarkerItem(*keys.closure(timebook_id, closure_id)).update(
                actions=[MarkerItem.detail["totals"].set(progress)], condition=MarkerItem.state == "running"
            )
        )
    except UpdateError as error:
        if not is_condition_failure(error):
            raise


def unfinished_closures(limit: int = 20) -> list[Closure]:
    """Closures a request left unfinished (or died in), as recorded, with what they did so far."""
    return [_closure(record) for record in MarkerItem.unfinished.query(keys.UNFINISHED_CLOSURES, limit=limit)]


def get_closure(timebook_id: str, closure_id: str) -> tuple[Closure, bool] | None:
    """A closure as recorded, and whether it is done (None: no such closure)."""
    try:
        record = MarkerItem.get(*keys.closure(timebook_id, closure_id), consistent_read=True)
    except MarkerItem.DoesNotExist:
        return None
    return _closure(record, timebook_id, closure_id), record.state == "done"


def _closure(record: MarkerItem, timebook_id: str | None = None, closure_id: str | None = None) -> Closure:
    if timebook_id is None or closure_id is None:
        timebook_id, closure_id = keys.closure_of_unfinished(record.gsi2sk)
    return mapping.closure(timebook_id, closure_id, plain(record.detail))


# ---- audit -------------------------------------------------------------------------------------


def add_audit(record: AuditRecord) -> None:
    item = mapping.audit_item(record)
    try:
        retrying(lambda: item.save(condition=AuditItem.pk.does_not_exist()))
    except PutError as error:
        if not is_condition_failure(error):
            raise


def audit_log(timebook_id: str, limit: int, before: str | None) -> tuple[list[AuditRecord], str | None]:
    """Newest first, a page at a time: (records, the sort key to continue before, or None)."""
    condition = AuditItem.sk < before if before else None
    found: Iterator[AuditItem] = AuditItem.query(
        keys.audit_log(timebook_id), condition, scan_index_forward=False, limit=limit + 1
    )
    page = list(found)
    more = len(page) > limit
    page = page[:limit]
    return [mapping.audit_record(item) for item in page], (page[-1].sk if more and page else None)
