"""Published availability: the public calendar and day views read documents, never the table.

One JSON document per timebook and month lists every upcoming slot with its free places when
published and the expiry of each live hold (domain/availability.py `PublishedSlot`), so a view
counts a hold that has lapsed since as free at once. A publisher writes it when slots change:
the table's stream (`publish_changes`, infra/stack.yaml's `PublishAvailabilityStreamSource`,
locally the runner's stream reader) re-reads the changed days and keeps the rest; a month never
published is published by its first viewer. A view then costs no DynamoDB request, and a
publication costs the same whether 10 or 100,000 people look (docs/capacity.md). Holds and
bookings still decide on the slots themselves.

Where documents live (`AVAILABILITY_DOCS`): `s3` in the stack (the feed bucket, under
`availability/`, beside the SMART feed), else in this process (`make run`, tests). Tests set
AVAILABILITY_STALENESS_SECONDS=0: then every view publishes first, so each change shows at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from chalicelib import budget, clock, settings
from chalicelib.booking import closed_ranges
from chalicelib.booking.common import iso, location_of
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain.availability import DaySummary, PublishedSlot, held_until, months_from
from chalicelib.domain.slots import parse_slot_id
from chalicelib.memo import Memo
from chalicelib.storage import repository

PREFIX = "availability/"
CONTENT_TYPE = "application/json"
MAX_AGE_SECONDS = 5  # what the store tells a cache; the views themselves say max-age=5 too


@dataclass(frozen=True)
class MonthDocument:
    timebook_id: str
    month: str
    published_ms: int  # epoch milliseconds
    slots: tuple[PublishedSlot, ...]  # by start, then location
    locations: tuple[str, ...] = ()  # the timebook's locations when published: a view checks its filter here

    def as_json(self) -> bytes:
        body = {
            "timebook_id": self.timebook_id,
            "month": self.month,
            "published_ms": self.published_ms,
            "locations": list(self.locations),
            "slots": [s.as_item() for s in self.slots],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, body: bytes) -> MonthDocument:
        doc = json.loads(body)
        slots = tuple(PublishedSlot.from_item(item) for item in doc["slots"])
        locations = tuple(str(location) for location in doc.get("locations", []))
        return cls(doc["timebook_id"], doc["month"], int(doc["published_ms"]), slots, locations)


class DocumentStore(Protocol):
    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, body: bytes, content_type: str, max_age: int) -> None: ...


class MemoryDocumentStore:
    """`make run` and tests: the documents in this process (the API and the publisher share it)."""

    def __init__(self) -> None:
        self._docs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> bytes | None:
        with self._lock:
            return self._docs.get(name)

    def put(self, name: str, body: bytes, content_type: str, max_age: int) -> None:
        with self._lock:
            self._docs[name] = body

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()


class S3DocumentStore:
    """The feed bucket (FEED_BUCKET) under `availability/`, beside the SMART feed's files."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from chalicelib.storage.feed_store import s3_client  # boto3: only where documents are in S3

            self._client = s3_client()
        return self._client

    def get(self, name: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=name)
        except self.client.exceptions.NoSuchKey:
            return None
        return bytes(answer["Body"].read())

    def put(self, name: str, body: bytes, content_type: str, max_age: int) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=name, Body=body, ContentType=content_type, CacheControl=f"public, max-age={max_age}"
        )


_memory = MemoryDocumentStore()
_store: DocumentStore | None = None


def store() -> DocumentStore:
    global _store
    if _store is None:
        bucket = settings.get().feed_bucket
        _store = S3DocumentStore(bucket) if settings.get().availability_docs == "s3" and bucket else _memory
    return _store


def _reset() -> None:
    global _store
    _store = None
    _memory.clear()


settings.on_reset(_reset)


def name_of(timebook_id: str, month: str) -> str:
    return f"{PREFIX}{timebook_id}/{month}.json"


def _month_days(month: str) -> tuple[date, date]:
    first = date.fromisoformat(f"{month}-01")
    return first, date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)


def publish(
    timebook_id: str,
    month: str,
    days: Iterable[str] | None = None,
    now: datetime | None = None,
    *,
    recount: bool = False,
) -> MonthDocument:
    """Write the month's document: the days named (all when None, or when there is no document
    yet) read again from the slots, consistently; the other days kept as last published. Reads
    one Query of the month's summaries (which name the slots) and the slots of the days read;
    the summaries of those days are recounted too (a stream batch, or `recount`: the schedule's
    backstop), so "first available" finds them fresh: nobody else recounts them (issue 20)."""
    budget.check()  # a view past its time budget starts no DynamoDB work (429); no budget elsewhere
    now = now or clock.now()
    today = clock.local(now).date()
    first, last = _month_days(month)
    old = None if days is None else load(timebook_id, month)
    summaries: list[DaySummary] = []
    if last >= today:
        summaries = list(repository.query_summaries(timebook_id, month, from_day=max(first, today)))
    known = {s.date for s in old.slots} if old else set()
    changed = set(days or ())
    reread = [s for s in summaries if old is None or s.date in changed or s.date not in known]
    now_epoch = clock.epoch(now)
    fresh: list[PublishedSlot] = []
    refs = [ref for summary in reread for ref in summary.refs()]
    for slot in repository.get_slots(refs, consistent=old is not None):
        ref = parse_slot_id(slot.slot_id)
        if ref is None:
            continue
        fresh.append(
            PublishedSlot(
                slot.slot_id,
                slot.location_id,
                ref.local_date.isoformat(),
                iso(slot.starts_at),
                iso(slot.ends_at),
                # a running closure's range is closed from its POST on, though its background run
                # has not reached every slot yet (booking/closed_ranges.py)
                0
                if closed_ranges.closed(timebook_id, slot.location_id, slot.starts_at)
                else len(slot.free_places(now)),
                held_until(slot.offered_places, slot.claims, now_epoch),
            )
        )
    reread_days = {s.date for s in reread}
    kept = [s for s in old.slots if s.date not in reread_days and s.date >= today.isoformat()] if old else []
    ordered = sorted([*kept, *fresh], key=lambda s: (datetime.fromisoformat(s.start), s.location_id))
    locations = tuple(location.id for location in get_timebook(timebook_id).locations)  # cached 30 s
    document = MonthDocument(timebook_id, month, int(now.timestamp() * 1000), tuple(ordered), locations)
    store().put(name_of(timebook_id, month), document.as_json(), CONTENT_TYPE, MAX_AGE_SECONDS)
    if (old is not None or recount) and reread:
        repository.refresh_summaries(reread, now_epoch, int(now.timestamp() * 1000))
    return document


def load(timebook_id: str, month: str) -> MonthDocument | None:
    body = store().get(name_of(timebook_id, month))
    return None if body is None else MonthDocument.from_json(body)


# Per process, a view keeps a document this long (S3 in the stack: a GET per second at most),
# and never longer than the stated staleness.
VIEW_MEMO_SECONDS = 1.0
_view_memo: Memo[tuple[str, str], MonthDocument] = Memo(lambda: min(VIEW_MEMO_SECONDS, staleness_seconds()))
_first_publication = threading.Lock()


# How old a summary may be before "first available" recounts it (docs/capacity.md); 0 (tests):
# recount on every read, and every view publishes first.
DEFAULT_STALENESS_SECONDS = 2.0


def staleness_seconds() -> float:
    return float(settings.get().availability_staleness_seconds or DEFAULT_STALENESS_SECONDS)


def for_view(timebook_id: str, month: str, location_id: str | None = None) -> MonthDocument:
    """The month's published document for the public views, its location filter checked: no
    DynamoDB request (not even the timebook) unless the month was never published (then its
    first viewer publishes it, one at a time per process) or the location is not in it (404 or
    a location added since: the timebook, cached, says which)."""
    if staleness_seconds() <= 0:  # tests: every view sees each change at once
        _checked(timebook_id, location_id)
        return publish(timebook_id, month)
    document = _view_memo.get((timebook_id, month), lambda: _loaded(timebook_id, month, location_id))
    if location_id and location_id not in document.locations:
        _checked(timebook_id, location_id)
    return document


def _loaded(timebook_id: str, month: str, location_id: str | None) -> MonthDocument:
    """The month's document from the store; never published: its first viewer publishes it."""
    document = load(timebook_id, month)
    if document is None:
        _checked(timebook_id, location_id)  # 404 for a timebook or location that does not exist
        with _first_publication:
            document = load(timebook_id, month) or publish(timebook_id, month)
    return document


def republish(now: datetime | None = None, months: int = 2) -> int:
    """The publisher schedule's backstop (with the SMART feed, every 30 s): every timebook's
    documents of this month and the next, whole, and their summaries recounted. Two stream
    batches that publish one month at once can each keep the other's day as it was (and store an
    older recount over a newer one); this bounds how long such a day stays stale. Returns how
    many documents it wrote."""
    now = now or clock.now()
    first = clock.local(now).date().replace(day=1)
    names = months_from(first, months)
    written = 0
    for contact in repository.list_health_contacts():  # those not taking bookings too: harmless
        for tb in repository.list_timebooks(contact.id):
            for month in names:
                publish(tb.id, month, now=now, recount=True)
                written += 1
    return written


def _checked(timebook_id: str, location_id: str | None) -> None:
    tb = get_timebook(timebook_id)
    if location_id:
        location_of(tb, location_id)


def changed_months(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(timebook, month) -> the local dates whose slots the stream records changed."""
    changed: dict[tuple[str, str], set[str]] = {}
    for record in records:
        image = (record.get("dynamodb") or {}).get("NewImage") or (record.get("dynamodb") or {}).get("Keys") or {}
        slot_id = (image.get("slot_id") or {}).get("S") or str((image.get("pk") or {}).get("S", ""))[5:]
        ref = parse_slot_id(slot_id)
        if ref is not None:
            changed.setdefault((ref.timebook_id, f"{ref.local_date:%Y-%m}"), set()).add(ref.local_date.isoformat())
    return changed


def is_slot_change(record: Mapping[str, Any]) -> bool:
    """The stream records the publisher wants (infra/stack.yaml's filter): a slot item's."""
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    return str((keys.get("pk") or {}).get("S", "")).startswith("SLOT#")


def publish_changes(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The stream's slot records: publish each month they touch once, its changed days read
    again. A failure fails the batch (Lambda reads it again); publishing twice is harmless."""
    wanted = [r for r in records if is_slot_change(r)]
    for (timebook_id, month), days in sorted(changed_months(wanted).items()):
        publish(timebook_id, month, days)
    return {"batchItemFailures": []}
