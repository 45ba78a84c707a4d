"""The SMART Scheduling Links feed: public availability as static files (decision 4: cacheable).

A schedule builds the `$bulk-publish` manifest and three NDJSON files (Location, Schedule, Slot)
from the timebooks of the health contacts that offer booking, and writes them to the feed store
(S3 behind CloudFront in AWS; the same bucket in the local stand-in, served by `make run`).
Finders and portals read those files, never the booking system.

What one publication reads (docs/standards.md, "Cost"): one Query for the health contacts, one
per health contact for its timebooks, and one Query (1 MB pages) per timebook and calendar month
that the horizon (FEED_DAYS, default 28) touches: bounded by the horizon, never the whole table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from chalicelib import clock, settings
from chalicelib.booking import discovery
from chalicelib.domain.model import HealthContact, Slot, Timebook
from chalicelib.fhir import scheduling
from chalicelib.storage import repository

MANIFEST = "$bulk-publish"
FILES = {"Location": "locations.ndjson", "Schedule": "schedules.ndjson", "Slot": "slots.ndjson"}
CONTENT_TYPES = {MANIFEST: "application/json", **{name: "application/fhir+ndjson" for name in FILES.values()}}
DEFAULT_DAYS = 28
MAX_AGE_SECONDS = 30  # plus at most 30 s between publications: a reader's copy is at most a minute old
STATES = ["NO"]  # the manifest's extension.state: the files cover Norway


class FeedStore(Protocol):
    """Where the files go: `put` replaces one object with Cache-Control max-age (the store adds an ETag)."""

    def put(self, name: str, body: bytes, content_type: str, max_age: int) -> None: ...


@dataclass
class Publication:
    manifest: dict[str, Any]
    files: dict[str, bytes]
    counts: dict[str, int] = field(default_factory=dict)
    queries: int = 0  # DynamoDB Query requests made (each may page)


def horizon_days() -> int:
    try:
        return max(1, min(int(settings.get().feed_days or DEFAULT_DAYS), 92))
    except ValueError:
        return DEFAULT_DAYS


def _months(first: date, last: date) -> list[str]:
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(f"{day:%Y-%m}")
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _slots_between(tb: Timebook, first: date, last: date, counter: list[int]) -> Iterator[Slot]:
    """Every slot (free or full) of a timebook from `first` to `last`, one Query per month.

    The one place that reads slots for the feed (issue 10 changes the slot layout: adapt here).
    """
    for index, month in enumerate(_months(first, last)):
        counter[0] += 1
        for slot in repository.query_slots(tb.id, month, from_day=first if index == 0 else None):
            if clock.local(slot.starts_at).date() <= last:
                yield slot


def build(now: datetime | None = None, base_url: str | None = None, portal_url: str | None = None) -> Publication:
    """The manifest and files as of `now`; slots that have begun are left out, full ones are `busy`."""
    now = now or clock.now()
    base = (base_url if base_url is not None else (settings.get().feed_base_url or "")).rstrip("/")
    portal = portal_url if portal_url is not None else (settings.get().portal_url or "")
    first = clock.local(now).date()
    last = first + timedelta(days=horizon_days() - 1)
    counter = [1]
    locations: dict[str, dict[str, Any]] = {}
    schedules: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] = []
    contacts: list[HealthContact] = discovery.health_contacts()
    for contact in contacts:
        counter[0] += 1
        phone = getattr(contact, "phone", None) or None
        for tb in repository.list_timebooks(contact.id):
            timebook_url = f"{portal.rstrip('/')}/#/timebooks/{tb.id}" if portal else None
            for location in tb.locations:
                locations.setdefault(location.id, scheduling.location_resource(location, phone, timebook_url))
                schedules.append(
                    scheduling.schedule_resource(tb.id, tb.type, tb.name, location.id, tb.description, tb.resource.name)
                )
            known = {location.id for location in tb.locations}
            for slot in _slots_between(tb, first, last, counter):
                if slot.location_id not in known or slot.begun(now):
                    continue
                free = len(slot.free_places(now))
                link = (
                    scheduling.deep_link(portal, tb.id, slot.slot_id, slot.location_id, slot.start[:10])
                    if portal
                    else None
                )
                slots.append(
                    scheduling.slot_resource(
                        slot_id=slot.slot_id,
                        schedule=scheduling.schedule_id(tb.id, slot.location_id),
                        start=slot.start,
                        end=slot.end,
                        free=free,
                        booking_link=link,
                        booking_phone=phone,
                    )
                )
    files = {
        FILES["Location"]: scheduling.ndjson(locations.values()),
        FILES["Schedule"]: scheduling.ndjson(schedules),
        FILES["Slot"]: scheduling.ndjson(slots),
    }
    outputs = [(kind, f"{base}/{name}") for kind, name in FILES.items()]
    manifest = scheduling.manifest(now, f"{base}/{MANIFEST}", outputs, STATES)
    counts = {"Location": len(locations), "Schedule": len(schedules), "Slot": len(slots)}
    return Publication(manifest, files, counts, counter[0])


def publish(store: FeedStore, now: datetime | None = None) -> Publication:
    """Build and write: the NDJSON files first, the manifest last (it names them)."""
    import json

    publication = build(now)
    for name, body in publication.files.items():
        store.put(name, body, CONTENT_TYPES[name], MAX_AGE_SECONDS)
    manifest = json.dumps(publication.manifest, separators=(",", ":")).encode()
    store.put(MANIFEST, manifest, CONTENT_TYPES[MANIFEST], MAX_AGE_SECONDS)
    return publication


class S3FeedStore:
    """The feed bucket (FEED_BUCKET). S3 makes the ETag; CloudFront answers If-None-Match with 304."""

    def __init__(self, bucket: str | None = None, client: Any = None) -> None:
        name = bucket or settings.get().feed_bucket
        if not name:
            raise ValueError("no feed bucket: pass bucket or set FEED_BUCKET")
        self.bucket: str = name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from chalicelib.storage.feed_store import s3_client  # boto3: only for the schedule's run

            self._client = s3_client()
        return self._client

    def put(self, name: str, body: bytes, content_type: str, max_age: int) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=name,
            Body=body,
            ContentType=content_type,
            CacheControl=f"public, max-age={max_age}",
        )


def publish_for_a_minute(store: FeedStore, runs: int | None = None) -> list[Publication]:
    """The schedule's run: EventBridge fires once a minute, so publish `runs` times spread over it
    (FEED_RUNS_PER_MINUTE; the stack sets 2, so the data is at most ~30 s old when written)."""

    count = runs if runs is not None else max(1, min(int(settings.get().feed_runs_per_minute or 1), 4))
    done: list[Publication] = []
    started = clock.monotonic()
    for index in range(count):
        wait = started + index * 60 / count - clock.monotonic()
        if wait > 0:
            clock.sleep(wait)
        done.append(publish(store))
    return done
