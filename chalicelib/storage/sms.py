"""The mark of the one SMS an inbox message may cause (chalicelib/messaging/sms.py, docs/sms.md).

One item per inbox message (its event id), moved between states by conditional writes only:

    (none) --claim--> sending --finish--> sent | skipped
    (none) --defer--> deferred --claim--> sending          (quiet hours: gsi2 SMS#DUE, by due time)
    sending --release--> released | deferred --claim--> sending   (SNS or KRR said no: try again)

Whoever wins `claim_sms` is the only one who may send; a mark left in `sending` (a crash between
the send and `finish_sms`) is never claimed again, so an SMS is sent at most once. Marks expire
by TTL some weeks after the queue could last redeliver their message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.storage import keys
from chalicelib.storage.models import MarkerItem, plain
from chalicelib.storage.transactions import get_item, is_condition_failure

__all__ = [
    "SmsMark",
    "claim_sms",
    "defer_sms",
    "due_sms",
    "finish_sms",
    "release_sms",
    "sms_mark",
    "take_sms_quota",
]

CLAIMABLE = ("released", "deferred")


@dataclass(frozen=True)
class SmsMark:
    event_id: str
    state: str
    detail: dict[str, Any] = field(default_factory=dict)


def _mark(item: MarkerItem) -> SmsMark:
    return SmsMark(item.pk.removeprefix("SMS#"), item.state or "", plain(item.detail))


def sms_mark(event_id: str) -> SmsMark | None:
    item = get_item(MarkerItem, *keys.sms(event_id), consistent=True)
    return _mark(item) if item is not None else None


def defer_sms(event_id: str, due_iso: str, detail: dict[str, Any], ttl: int) -> bool:
    """Park an SMS until `due_iso` (quiet hours); False if this message's SMS has a mark already
    (other than one given back after a refusal)."""
    pk, sk = keys.sms(event_id)
    item = MarkerItem(
        pk, sk, gsi2pk=keys.SMS_DUE, gsi2sk=keys.sms_due_sort(due_iso, event_id), state="deferred", ttl=ttl
    )
    item.detail = {**detail, "due": due_iso}
    try:
        item.save(condition=MarkerItem.pk.does_not_exist() | (MarkerItem.state == "released"))
    except PutError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def claim_sms(event_id: str, ttl: int) -> bool:
    """Take the right to send this message's SMS: True for exactly one caller, ever, unless the
    send was refused and released (then for exactly one caller again)."""
    try:
        MarkerItem(*keys.sms(event_id)).update(
            actions=[
                MarkerItem.state.set("sending"),
                MarkerItem.ttl.set(ttl),
                MarkerItem.gsi2pk.remove(),  # a deferred one leaves the schedule's list
                MarkerItem.gsi2sk.remove(),
            ],
            condition=MarkerItem.pk.does_not_exist() | MarkerItem.state.is_in(*CLAIMABLE),
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def finish_sms(event_id: str, state: str, detail: dict[str, Any]) -> None:
    """The claimed SMS went (`sent`) or will never go (`skipped`); `detail` replaces what the mark
    held (a deferred SMS's recipient and text are not kept once it is done)."""
    try:
        MarkerItem(*keys.sms(event_id)).update(
            actions=[MarkerItem.state.set(state), MarkerItem.detail.set(detail)],
            condition=MarkerItem.state == "sending",
        )
    except UpdateError as error:
        if not is_condition_failure(error):
            raise


def release_sms(event_id: str, due_iso: str | None = None) -> None:
    """Give a claimed SMS back after a refusal: to the next delivery of its message (`released`),
    or to the schedule again at `due_iso` (a deferred one)."""
    actions: list[Any] = [MarkerItem.state.set("released")]
    if due_iso is not None:
        actions = [
            MarkerItem.state.set("deferred"),
            MarkerItem.gsi2pk.set(keys.SMS_DUE),
            MarkerItem.gsi2sk.set(keys.sms_due_sort(due_iso, event_id)),
        ]
    try:
        MarkerItem(*keys.sms(event_id)).update(actions=actions, condition=MarkerItem.state == "sending")
    except UpdateError as error:
        if not is_condition_failure(error):
            raise


def due_sms(now_iso: str, limit: int = 100) -> list[SmsMark]:
    """Deferred SMS due by `now_iso`, earliest first (ISO times of one offset sort as text; the
    due times are written in UTC)."""
    query = MarkerItem.unfinished.query(keys.SMS_DUE, MarkerItem.gsi2sk <= keys.sms_due_sort(now_iso, "~"), limit=limit)
    return [_mark(item) for item in query]


def take_sms_quota(pid: str, day: str, limit: int, ttl: int) -> bool:
    """Count one more SMS to this person today: False (and nothing counted) once `limit` went."""
    try:
        MarkerItem(*keys.sms_quota(pid, day)).update(
            actions=[MarkerItem.count.add(1), MarkerItem.ttl.set(ttl)],
            condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < limit),
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
