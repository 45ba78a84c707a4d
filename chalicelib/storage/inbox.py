"""The citizen's inbox: messages written once per event (the consumer), read newest first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pynamodb.exceptions import PutError

from chalicelib.domain.model import (
    InboxMessage,
)
from chalicelib.storage import keys, mapping
from chalicelib.storage.models import (
    InboxMessageItem,
)
from chalicelib.storage.transactions import (
    is_condition_failure,
    retrying,
)

if TYPE_CHECKING:  # a list's paging, loaded by the request that pages (not by a booking's cold start)
    from chalicelib.domain.paging import PageRequest, Position


def inbox_page(pids: Sequence[str], page: PageRequest) -> tuple[list[InboxMessage], Position | None]:
    """One page of the inbox of several people, person by person, newest first."""
    from chalicelib.domain.paging import Position

    found: list[InboxMessageItem] = []
    person, after = page.start.person, page.start.after
    while person < len(pids) and len(found) < page.limit:
        pk = keys.inbox(pids[person])
        start_key = {"pk": {"S": pk}, "sk": {"S": after[0]}} if after else None
        query = InboxMessageItem.query(
            pk, scan_index_forward=False, limit=page.limit - len(found), last_evaluated_key=start_key
        )
        items, last = list(query), query.last_evaluated_key
        found.extend(items)
        if last is not None and items:
            return _messages(found), Position(person, (items[-1].sk,))
        person, after = person + 1, ()
    return _messages(found), (Position(person, ()) if person < len(pids) else None)


def _messages(items: Iterable[InboxMessageItem]) -> list[InboxMessage]:
    return [mapping.inbox_message(item) for item in items]


def add_inbox_message(item: InboxMessageItem, pid: str) -> bool:
    """Write an inbox message once: False if this event's message is already there."""
    item.pk = keys.inbox(pid)
    item.sk = keys.inbox_sort(item.created_at, item.id)
    try:
        retrying(lambda: item.save(condition=InboxMessageItem.pk.does_not_exist()))
    except PutError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def inbox_of(pids: Iterable[str]) -> list[InboxMessage]:
    found: list[InboxMessageItem] = []
    for pid in dict.fromkeys(pids):
        found.extend(InboxMessageItem.query(keys.inbox(pid), scan_index_forward=False))
    return _messages(sorted(found, key=lambda m: (m.created_at, m.id), reverse=True))
