"""Issue 23: personal data is erased `retention_days` after the appointment's end, provably (a scan
of the whole table finds none of the identifiers used), statistics still add up, a second run
changes nothing, nothing is sent for it, and what is still inside retention keeps everything."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import clock, settings
from chalicelib.booking import retention
from chalicelib.domain.retention import ERASED, PersonalRecord, actor_stays, erased_audit, without_national_ids
from chalicelib.local.demo import DEMO_STAFF_PID
from chalicelib.messaging import helsenorge
from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.factories import make_pid
from tests.helpers import (
    book_body,
    deliver_events,
    free_days,
    free_slots,
    relay_stream,
    stream_messages,
)

pytestmark = pytest.mark.moto  # a scan of DynamoDB's own table is the proof


def _table_items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=settings.get().region)
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=settings.get().table_name):
        found.extend(page["Items"])
    return found


def _text(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, ensure_ascii=False)


def _statistics(items: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """Appointments per timebook, day and status, from the stored items themselves."""
    return Counter(
        (item["timebook"]["M"]["id"]["S"], item["start"]["S"][:10], item["status"]["S"])
        for item in items
        if item["sk"]["S"] == "AP"
    )


def _book(client: Any, who: Citizen, slot: dict[str, Any], **extra: Any) -> dict[str, Any]:
    headers = extra.pop("headers", None)
    body = book_body(who.phone, KORONATEST_ANSWERS, slot_id=slot["id"], **extra)
    made = client.post("/appointments", body, token=who.token, headers=headers)
    assert made.status == 201, made
    return made.json


def test_erasure_after_retention_leaves_nothing_personal_and_statistics_add_up(client, demo, staff_token):
    tb = demo.koronatest_id
    first_day = free_days(client, tb)[1]["date"]  # not today: a cancel is before its deadline
    last_day = free_days(client, tb)[-1]["date"]
    assert last_day > first_day
    early = free_slots(client, tb, first_day)
    booker, canceller, parent, waiter, keeper = Citizen(501), Citizen(502), None, Citizen(504), Citizen(505)
    child = make_pid(506)
    parent = Citizen(503, represents=[{"pid": child, "name": "Barn Barnesen"}])
    confirmed = _book(
        client,
        booker,
        early[0],
        description="Hoste siden tirsdag-unik",
        headers={"Idempotency-Key": "retention-key-1"},
    )
    assert client.post(f"/admin/appointments/{confirmed['id']}/confirm", {}, token=staff_token).status == 200
    cancelled = _book(client, canceller, early[1], description="Feber-unik")
    assert client.post(f"/appointments/{cancelled['id']}/cancel", {}, token=canceller.token).status == 200
    for_child = _book(client, parent, early[2], for_pid=child, description="Barnet hoster-unik")
    joined = client.post("/waitlist", {"timebook_id": tb}, token=waiter.token)
    assert joined.status == 201, joined
    assert client.delete(f"/waitlist/{joined.json['id']}", token=waiter.token).status == 204
    kept = _book(client, keeper, free_slots(client, tb, last_day)[-1], description="Fortsatt-gyldig")
    deliver_events()
    assert client.get("/inbox", token=booker.token).json["items"]  # there was something to erase
    relay_stream()  # everything the changes above sent is sent

    erased_people = (booker, canceller, parent, waiter)
    identifiers = [p.pid for p in erased_people] + [child]  # not the staff member's: below
    bookers = (booker, canceller, parent)  # the waiter gave no name or phone
    identifiers += [p.name for p in bookers] + ["Barn Barnesen"]
    identifiers += [re.sub(r"\D", "", p.phone)[2:] for p in bookers]  # stored as digits
    identifiers += ["tirsdag-unik", "Feber-unik", "hoster-unik", "retention-key-1"]
    before = _table_items()
    missing = [i for i in [*identifiers, DEMO_STAFF_PID] if i not in _text(before)]
    assert missing == [], f"the test's identifiers were never stored: {missing}"
    statistics = _statistics(before)

    # Past the first day's retention (90 days after its end), not yet past the last day's.
    ends = datetime.fromisoformat(confirmed["end"])
    clock.advance(ends + timedelta(days=90, hours=25) - clock.now())
    assert clock.now() < datetime.fromisoformat(kept["end"]) + timedelta(days=90)

    partial = retention.erase_expired(steps=2, step=10)  # bounded: goes on next run
    assert partial.read_steps == 2 and not partial.cycle_done
    runs = 0
    while not retention.erase_expired(steps=3, step=10).cycle_done:
        runs += 1
        assert runs < 500

    after = _table_items()
    text = _text(after)
    left = [i for i in identifiers if i in text]
    assert left == [], f"still stored: {left}"
    assert _statistics(after) == statistics
    # The audit keeps who did what: the staff member's id stays on their confirm, and only there.
    confirms = [
        i for i in after if i["pk"]["S"].startswith("AUDIT#") and i["target"]["S"] == confirmed["id"]
    ]  # fmt: skip
    assert [(i["action"]["S"], i["actor"]["S"], i["actor_role"]["S"]) for i in confirms] == [
        ("appointment_confirm", DEMO_STAFF_PID, "staff")
    ]
    assert {i["pk"]["S"][:6] for i in after if DEMO_STAFF_PID in _text([i])} == {"AUDIT#"}
    assert stream_messages() == []  # nothing for the inbox or Helsenorge

    # Still inside retention: all of it.
    mine = client.get(f"/appointments/{kept['id']}", token=keeper.token)
    assert mine.status == 200 and mine.json["phone"] and mine.json["description"] == "Fortsatt-gyldig"
    assert keeper.pid in text and keeper.name in text
    # The erased ones are no one's now, and no longer in anyone's lists.
    assert client.get("/appointments", token=booker.token).json["items"] == []
    assert client.get("/appointments", token=parent.token).json["items"] == []
    assert client.get("/inbox", token=booker.token).json["items"] == []
    assert client.get(f"/appointments/{for_child['id']}", token=parent.token).status == 404

    # Staff still count the day: the erased appointments are there, anonymous.
    listed = client.get(f"/admin/appointments?timebook_id={tb}&date={first_day}", token=staff_token).json["items"]
    ours = {a["id"]: a for a in listed if a["id"] in {confirmed["id"], cancelled["id"], for_child["id"]}}
    assert {a["status"] for a in ours.values()} == {"booked", "cancelled", "requested"}
    assert all(a["for"]["name"] == "" and a["phone"] == "" and a["answers"] == [] for a in ours.values())
    daylist = client.get(f"/admin/timebooks/{tb}/daylist?date={first_day}", token=staff_token)
    assert daylist.status == 200 and {"", None} >= {r["birth_date"] for r in daylist.json["items"]}
    assert client.get(f"/admin/timebooks/{tb}/overview?date={first_day}", token=staff_token).status == 200
    # A late Helsenorge message for an erased appointment sends nothing.
    assert helsenorge.send(confirmed["id"], token=_NoToken()) is None

    again = retention.erase_expired(steps=1000, step=50)
    assert again.erased == 0 and again.cycle_done
    assert _without_position(_table_items()) == _without_position(after)


class _NoToken:
    def token(self) -> str:
        raise AssertionError("nothing may be sent for an erased appointment")


def _without_position(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((i for i in items if i["pk"]["S"] != "RETENTION"), key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def test_records_are_due_after_their_timebooks_retention() -> None:
    end = datetime.fromisoformat("2026-03-01T10:00:00+01:00")
    record = PersonalRecord("appointment", "r", "tb", end)
    assert not record.due(30, end + timedelta(days=30) - timedelta(seconds=1))
    assert record.due(30, end + timedelta(days=30))
    assert not record.due(None, end + timedelta(days=89)) and record.due(None, end + timedelta(days=90))
    expiring = PersonalRecord("idempotency", "r", "", end)
    assert expiring.due(None, end) and not expiring.due(None, end - timedelta(seconds=1))
    assert ERASED == "slettet"


def test_the_audit_keeps_the_staff_member_and_loses_the_person() -> None:
    """Issue 23: «audit keeps who did what, with the person's id replaced»."""
    from chalicelib.domain.model import AuditRecord

    staff, person = make_pid(507), make_pid(508)
    by_staff = AuditRecord("au1", "t", staff, "appointment_confirm", "ap1", {"n": 1}, actor_role="staff")
    assert erased_audit(by_staff) is None  # names no person: it stays as it is
    assert erased_audit(replace(by_staff, actor_role=None)) is None  # an old staff record reads the same
    by_person = replace(by_staff, actor=person, actor_role="citizen", detail={"for": person, "n": [f"x{person}"]})
    assert erased_audit(by_person) == replace(by_person, actor=ERASED, detail={"for": ERASED, "n": [f"x{ERASED}"]})
    unknown = replace(by_staff, action="something_new", actor_role=None)  # not known as staff's: the safe way
    assert erased_audit(unknown) == replace(unknown, actor=ERASED)
    naming = replace(by_staff, target=person)
    assert erased_audit(naming) == replace(naming, target=ERASED)  # the staff member stays
    assert actor_stays("staff", "anything") and not actor_stays("citizen", "appointment_confirm")
    not_an_id = "12345678901"  # eleven digits, wrong check digits: left as it is
    assert without_national_ids({"k": not_an_id, "n": 3}) == {"k": not_an_id, "n": 3}


def test_the_citizens_copy_reads_a_bounded_part_of_an_audit_log(aws, monkeypatch):
    """One token cannot make GET /me/data read a whole long audit log: the read stops, and says so."""
    from chalicelib.domain.model import AuditRecord
    from chalicelib.storage import retention as stored
    from chalicelib.storage import staffwork

    for n in range(6):
        at = f"2030-03-17T09:00:{n:02d}.000+00:00"
        target = "ap-mine" if n == 0 else f"ap-other-{n}"
        staffwork.add_audit(AuditRecord(f"au{n}", at, "staff", "appointment_confirm", target, {}, "tbx", at))
    assert [r.id for r in stored.audit_about("tbx", ["ap-mine"])[0]] == ["au0"]
    assert stored.audit_about("tbx", ["ap-mine"])[1] is True
    monkeypatch.setattr(stored, "AUDIT_PAGE", 2)
    monkeypatch.setattr(stored, "AUDIT_READ_AT_MOST", 4)
    found, complete = stored.audit_about("tbx", ["ap-mine"])  # the oldest is past what one call reads
    assert found == [] and complete is False
