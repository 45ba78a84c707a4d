"""The SMART Scheduling Links feed: valid lines, counts that agree with the calendar, fresh busy slots."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import botocore.client
import pytest

from chalicelib import clock
from chalicelib.booking import feed
from tests.conftest import Citizen
from tests.helpers import book_body, first_free_slot
from tests.standards.conftest import Standards, http
from tests.standards.fhir_checks import (
    DEEP_LINK,
    SLOT_CAPACITY,
    manifest_problems,
    ndjson_lines,
    parse_r4b,
    resource_problems,
)


def publish() -> feed.Publication:
    return feed.publish(feed.S3FeedStore())


def fetched(standards: Standards, name: str) -> bytes:
    status, _headers, body = http("GET", f"{standards.server.feed_url}/{name}")
    assert status == 200, name
    return body


def published(standards: Standards) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The manifest and every resource of its files, read at the URLs the manifest names."""
    manifest = json.loads(fetched(standards, feed.MANIFEST))
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for output in manifest["output"]:
        status, headers, body = http("GET", output["url"])
        assert status == 200 and headers["Content-Type"] == "application/fhir+ndjson"
        files[output["type"]].extend(ndjson_lines(body))
    return manifest, files


def slot_capacity(slot: dict[str, Any]) -> int:
    return next(e["valueInteger"] for e in slot["extension"] if e["url"] == SLOT_CAPACITY)


def test_every_line_parses_as_r4b_and_passes_our_checks(standards: Standards, demo: Any) -> None:
    publish()
    manifest, files = published(standards)
    assert manifest_problems(manifest) == []
    assert manifest["request"] == f"{standards.server.feed_url}/$bulk-publish"
    for kind, resources in files.items():
        assert resources, kind
        for resource in resources:
            assert resource["resourceType"] == kind
            parse_r4b(resource)
            assert resource_problems(resource) == [], resource
    schedules = {f"Schedule/{s['id']}" for s in files["Schedule"]}
    locations = {f"Location/{loc['id']}" for loc in files["Location"]}
    assert {s["actor"][0]["reference"] for s in files["Schedule"]} <= locations
    assert {s["schedule"]["reference"] for s in files["Slot"]} <= schedules


def test_covid_vaccine_schedules_carry_the_smart_code(standards: Standards, demo: Any) -> None:
    publish()
    _, files = published(standards)
    by_type = {}
    for schedule in files["Schedule"]:
        codes = {c["code"] for c in schedule["serviceType"][0]["coding"]}
        by_type[schedule["id"].split(".")[0]] = codes
    assert {"koronavaksine", "57", "covid19-immunization"} <= by_type[demo.koronavaksine_id]
    assert "covid19-immunization" not in by_type[demo.koronatest_id]


def test_counts_agree_with_the_calendar(standards: Standards, demo: Any, client: Any) -> None:
    publication = publish()
    _, files = published(standards)
    assert publication.counts == {kind: len(resources) for kind, resources in files.items()}
    free_by_day: Counter[str] = Counter()
    slots_by_day: Counter[str] = Counter()
    for slot in files["Slot"]:
        if slot["schedule"]["reference"].startswith(f"Schedule/{demo.koronatest_id}."):
            free_by_day[slot["start"][:10]] += slot_capacity(slot)
            slots_by_day[slot["start"][:10]] += 1
    months = sorted({day[:7] for day in free_by_day})
    for month in months:
        calendar = client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={month}").json["days"]
        for day in calendar:
            if day["date"] <= max(free_by_day):  # within the feed's horizon
                assert free_by_day[day["date"]] == day["free"], day["date"]
    # Every slot of a day is published, free or not: 20 quarter-hours 08-13 (today: those not begun).
    today = clock.local(clock.now()).date().isoformat()
    assert {n for day, n in slots_by_day.items() if day != today} == {20}


def test_a_booked_out_slot_is_busy_in_the_next_publication(standards: Standards, demo: Any, client: Any) -> None:
    slot = first_free_slot(client, demo.konsultasjon_id)  # capacity 1
    feed_id = slot["id"].replace("_", ".")
    publish()
    before = {s["id"]: s for s in published(standards)[1]["Slot"]}[feed_id]
    assert before["status"] == "free" and slot_capacity(before) == 1
    link = next(e["valueUrl"] for e in before["extension"] if e["url"] == DEEP_LINK)
    assert (
        link
        == (  # issue 19: the portal's calendar route, that day, the time selected
            f"https://portal.example.no/#/timebok/{demo.konsultasjon_id}/kalender?sted={slot['location_id']}"
            f"&maaned={slot['start'][:7]}&dato={slot['start'][:10]}&tid={slot['id']}"
        )
    )
    elise = Citizen(31)
    booked = client.post("/appointments", book_body(elise.phone, {}, slot_id=slot["id"]), token=elise.token)
    assert booked.status == 201, booked
    publish()
    after = {s["id"]: s for s in published(standards)[1]["Slot"]}[feed_id]
    assert after["status"] == "busy" and slot_capacity(after) == 0
    assert resource_problems(after) == []


def test_an_expired_hold_is_free_again_in_the_feed(standards: Standards, demo: Any, client: Any) -> None:
    from datetime import timedelta

    slot = first_free_slot(client, demo.konsultasjon_id)
    kari = Citizen(32)
    assert client.post("/holds", {"slot_id": slot["id"]}, token=kari.token).status == 201
    publish()
    held = {s["id"]: s for s in published(standards)[1]["Slot"]}[slot["id"].replace("_", ".")]
    assert held["status"] == "busy"
    clock.advance(timedelta(minutes=11))
    publish()
    later = {s["id"]: s for s in published(standards)[1]["Slot"]}[slot["id"].replace("_", ".")]
    assert later["status"] == "free"


def test_slots_that_have_begun_or_lie_beyond_the_horizon_are_left_out(
    standards: Standards, demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEED_DAYS", "3")
    publication = publish()
    _, files = published(standards)
    now = clock.now()
    starts = [datetime.fromisoformat(s["start"]) for s in files["Slot"]]
    assert all(start > now for start in starts)
    today = clock.local(now).date()
    assert all((clock.local(start).date() - today).days < 3 for start in starts)
    assert publication.counts["Slot"] == len(starts)


def test_http_caching_etag_and_304(standards: Standards, demo: Any) -> None:
    publish()
    url = f"{standards.server.feed_url}/{feed.MANIFEST}"
    status, headers, _ = http("GET", url)
    assert status == 200 and headers["Cache-Control"] == f"public, max-age={feed.MAX_AGE_SECONDS}"
    etag = headers["ETag"]
    status, headers, body = http("GET", url, headers={"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["ETag"] == etag
    slots_url = f"{standards.server.feed_url}/slots.ndjson"
    _, slot_headers, _ = http("GET", slots_url)
    publish()  # nothing changed but the time: the slot file keeps its ETag, the manifest gets a new one
    assert http("GET", slots_url, headers={"If-None-Match": slot_headers["ETag"]})[0] == 304


def test_the_api_sends_readers_to_the_manifest(standards: Standards, client: Any) -> None:
    response = client.get("/fhir/$bulk-publish")
    assert response.status == 302
    assert response.headers["location"] == f"{standards.server.feed_url}/$bulk-publish"
    assert "max-age" in response.headers["cache-control"]


def test_a_publication_reads_by_query_only_and_bounded(
    standards: Standards, demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Query for the contacts, one per contact, one per timebook-month (the day summaries), and
    the slots those name read 100 at a time: no Scan, no GetItem per slot."""
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    publication = feed.build()
    assert set(calls) <= {"Query", "BatchGetItem"}
    assert calls.count("Query") == publication.queries
    months = len(feed._months(clock.local(clock.now()).date(), clock.local(clock.now()).date() + feed_days()))
    assert publication.queries == 1 + 2 + 3 * months  # 2 health contacts, 3 timebooks in the demo
    slots = publication.counts["Slot"]
    assert calls.count("BatchGetItem") <= 3 * months + slots // 100, (calls.count("BatchGetItem"), slots)


def feed_days() -> Any:
    from datetime import timedelta

    return timedelta(days=feed.horizon_days() - 1)
