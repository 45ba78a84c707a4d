"""Bad input: everything a client can get wrong is a 4xx JSON error of API.md, and writes nothing.

Most cases run in `TestRejected`, which shares one seeded world (class scope: seeding the demo
costs about a second per test otherwise) and checks after every test that no item of the DynamoDB
table changed (moto's put/update/delete are counted; after any call the items are compared), on top
of the API-level checks (no appointment listed, free places unchanged).
Cases that need a fresh world (time travel, a successful booking first) and the property tests
use the function-scoped fixtures of tests/conftest.py.

Known app bugs are marked `xfail(strict=True)` with the cause, so the suite stays green until
they are fixed and then insists the marker is removed.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib import clock
from chalicelib.clock import OSLO
from chalicelib.domain.slots import slot_ref
from chalicelib.http.tokens import issue_token
from chalicelib.local.demo import DEMO_STAFF_PID, SMITTEVERN_HER_ID
from tests.conftest import KORONATEST_ANSWERS, Citizen, token_for
from tests.helpers import first_free_slot, timebook_body
from tests.http.conftest import TableWatch, seeded_world

MAX_BODY = 64 * 1024

# ---- helpers -----------------------------------------------------------------------------------


def _field_matches(name: str, wanted: str) -> bool:
    return name == wanted or name.startswith(wanted + ".")


def assert_error(resp: Any, status: int, code: str | None = None, field: str | tuple[str, ...] | None = None) -> dict:
    """The JSON error of API.md with this status; `field` (or one of several) named in `fields`.

    A field matches exactly or as a prefix of a dotted path ("weekdays" matches "weekdays.0").
    """
    assert resp.status == status, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json
    assert isinstance(body, dict) and set(body) == {"error"}, resp
    error = body["error"]
    assert isinstance(error, dict) and set(error) <= {"code", "message", "fields"}, resp
    assert isinstance(error.get("code"), str) and error["code"], resp
    assert isinstance(error.get("message"), str) and error["message"], resp
    if "fields" in error:
        assert isinstance(error["fields"], list) and error["fields"], resp
        for item in error["fields"]:
            assert isinstance(item, dict) and set(item) == {"field", "message"}, resp
            assert isinstance(item["field"], str) and isinstance(item["message"], str), resp
    if code is not None:
        assert error["code"] == code, resp
    if field is not None:
        wanted = (field,) if isinstance(field, str) else field
        named = [f["field"] for f in error.get("fields", [])]
        assert named, f"400 without fields: {resp}"
        assert any(_field_matches(n, w) for n in named for w in wanted), f"{wanted} not in {named}: {resp}"
    return error


def assert_client_error(resp: Any) -> None:
    """Never a 5xx; any 4xx carries the error body."""
    assert resp.status < 500, resp
    if resp.status >= 400:
        assert_error(resp, resp.status)


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def free_of(client: Any, timebook_id: str, slot: dict[str, Any]) -> int:
    """Free places of a slot now (0 when it is no longer listed as bookable)."""
    day = slot["start"][:10]
    items = client.get(f"/timebooks/{timebook_id}/slots?date={day}").json["items"]
    return next((s["free"] for s in items if s["id"] == slot["id"]), 0)


def appointments_of(client: Any, token: str) -> list[dict[str, Any]]:
    resp = client.get("/appointments", token=token)
    assert resp.status == 200, resp
    return resp.json["items"]


def secret() -> str:
    return os.environ["TOKEN_SECRET"]


def past_slot_id(timebook_id: str, location_id: str) -> str:
    """A well-formed id for yesterday 08:00 at a real location (never bookable)."""
    yesterday = clock.local(clock.now()).date() - timedelta(days=1)
    return slot_ref(timebook_id, location_id, datetime.combine(yesterday, time(8, 0), tzinfo=OSLO)).slot_id


def fake_hold_id(slot_id: str, place: int = 0) -> str:
    return f"h{place}_0123456789_{slot_id}"


def other_org_staff_token() -> str:
    return token_for(DEMO_STAFF_PID, "staff", "Annen Kommune", orgs=["9999999"])


def change_check_digit(pid: str) -> str:
    return pid[:-1] + str((int(pid[-1]) + 1) % 10)


def schedule_body(location_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location_id": location_id,
        "from": "2030-01-07",
        "to": "2030-01-08",
        "weekdays": [1, 2],
        "start_time": "08:00",
        "end_time": "09:00",
        "slot_minutes": 15,
        "capacity": 1,
    }
    body.update(changes)
    return body


def without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


# ---- the shared world --------------------------------------------------------------------------


@dataclass
class World:
    client: Any
    demo: Any
    staff_token: str
    slot: dict[str, Any]  # a free future Koronatest slot, untouched
    held_slot: dict[str, Any]  # a free future Koronatest slot with one place held by `holder`
    holder: Citizen
    hold_id: str
    vaksine_location_id: str
    watch: TableWatch
    _citizens: Iterator[int] = field(default_factory=lambda: iter(range(100, 10_000)))

    @property
    def tb(self) -> str:
        return self.demo.koronatest_id

    @property
    def loc(self) -> str:
        return self.demo.teststasjon_id

    def fresh_citizen(self, **claims: Any) -> Citizen:
        return Citizen(next(self._citizens), **claims)


@pytest.fixture(scope="class")
def world() -> Iterator[World]:
    """tests/http/conftest.py's seeded world + a hold, once for the whole class (they are read-only)."""
    with seeded_world() as seeded:
        client, demo = seeded.client, seeded.demo
        slot = first_free_slot(client, demo.koronatest_id)
        held_slot = first_free_slot(client, demo.koronatest_id, datetime.fromisoformat(slot["end"]))
        holder = Citizen(99)
        hold = client.post("/holds", {"slot_id": held_slot["id"]}, token=holder.token)
        assert hold.status == 201, hold
        vaksine = client.get(f"/timebooks/{demo.koronavaksine_id}").json
        yield World(
            client,
            demo,
            seeded.staff_token,
            slot,
            held_slot,
            holder,
            hold.json["id"],
            vaksine["locations"][0]["id"],
            seeded.watch,
        )


# POST routes and a body that is valid for them except where a test spoils it.
def valid_body(w: World, route: str) -> tuple[str, dict[str, Any], str]:
    """(path, body, token) of a request the route would accept."""
    citizen = w.fresh_citizen()
    if route == "holds":
        return "/holds", {"slot_id": w.slot["id"]}, citizen.token
    if route == "appointments":
        body = {"slot_id": w.slot["id"], "answers": dict(KORONATEST_ANSWERS), "phone": citizen.phone}
        return "/appointments", body, citizen.token
    if route == "health-contacts":
        token = token_for(DEMO_STAFF_PID, "staff", orgs=["8100099"])
        return "/admin/health-contacts", {"organisation": "K", "service": "S", "her_id": "8100099"}, token
    if route == "timebooks":
        return "/admin/timebooks", timebook_body(w.demo.smittevern_id), w.staff_token
    if route == "locations":
        return f"/admin/timebooks/{w.tb}/locations", {"name": "B", "address": "Gaten 2"}, w.staff_token
    if route == "schedules":
        return f"/admin/timebooks/{w.tb}/schedules", schedule_body(w.loc), w.staff_token
    raise AssertionError(route)


POST_ROUTES = ["holds", "appointments", "health-contacts", "timebooks", "locations", "schedules"]

MALFORMED_BODIES = [
    pytest.param(b"{", "invalid_json", id="truncated"),
    pytest.param(b"{'slot_id': 'x'}", "invalid_json", id="single-quotes"),
    pytest.param(b'{"a": 1,}', "invalid_json", id="trailing-comma"),
    pytest.param(b"\xff\xfe\x00garbage", "invalid_json", id="not-utf8"),
    pytest.param(b"[]", "invalid_json", id="array"),
    pytest.param(b'[{"slot_id": "x"}]', "invalid_json", id="array-of-object"),
    pytest.param(b'"slot_id"', "invalid_json", id="string"),
    pytest.param(b"42", "invalid_json", id="number"),
    pytest.param(b"true", "invalid_json", id="boolean"),
    pytest.param(b"null", "invalid_json", id="null"),
    pytest.param(b"", "invalid_json", id="empty"),
    pytest.param(b"   \n", "invalid_json", id="whitespace"),
    pytest.param(b'{"pad": "' + b"x" * MAX_BODY + b'"}', "body_too_large", id="over-64KiB"),
]


APPOINTMENT_INVALID = [
    pytest.param("drop", ("hold_id", "slot_id"), ("body", "hold_id", "slot_id"), id="neither-hold-nor-slot"),
    pytest.param("set", {"hold_id": "HOLD", "slot_id": "SLOT"}, ("body", "hold_id", "slot_id"), id="both"),
    pytest.param("drop", ("phone",), "phone", id="missing-phone"),
    pytest.param("set", {"phone": None}, "phone", id="null-phone"),
    pytest.param("set", {"phone": ""}, "phone", id="empty-phone"),
    pytest.param("set", {"phone": "123"}, "phone", id="phone-123"),
    pytest.param("set", {"phone": "abc"}, "phone", id="phone-abc"),
    pytest.param("set", {"phone": "+47 123"}, "phone", id="phone-too-short"),
    pytest.param("set", {"phone": "9" * 31}, "phone", id="phone-too-long"),
    pytest.param("set", {"description": "x" * 1001}, "description", id="description-1001"),
    pytest.param("set", {"description": None}, "description", id="description-null"),
    pytest.param("answers", {"nope": "ja"}, "answers.nope", id="unknown-question"),
    pytest.param("drop-answer", "symptomer", "answers.symptomer", id="missing-required-answer"),
    pytest.param("answers", {"symptomer": None}, "answers.symptomer", id="null-required-answer"),
    pytest.param("answers", {"symptomer": "  "}, "answers.symptomer", id="blank-required-answer"),
    pytest.param("answers", {"symptomer": "maybe"}, "answers.symptomer", id="yes-no-maybe"),
    pytest.param("answers", {"symptomer": 1}, "answers.symptomer", id="yes-no-number"),
    pytest.param("answers", {"symptomer": ["ja"]}, "answers.symptomer", id="yes-no-list"),
    pytest.param("answers", {"symptomer": {"ja": True}}, "answers.symptomer", id="yes-no-object"),
    pytest.param("set", {"answers": {}}, "answers.symptomer", id="no-answers"),
    pytest.param("set", {"answers": {f"q{i}": "ja" for i in range(51)}}, "answers", id="51-answers"),
    pytest.param("answers", {"x" * 41: "ja"}, "answers", id="answer-key-too-long"),
    pytest.param("set", {"for_pid": "123"}, "for_pid", id="for-pid-short"),
    pytest.param("set", {"for_pid": "abcdefghijk"}, "for_pid", id="for-pid-letters"),
    pytest.param("set", {"for_pid": "BADCHECK"}, "for_pid", id="for-pid-check-digits"),
    pytest.param("set", {"for_pid": "3" * 21}, "for_pid", id="for-pid-too-long"),
    pytest.param("set", {"hold_id": "", "slot_id": None}, ("hold_id", "body"), id="blank-hold-id"),
]


class TestRejected:
    """Each request here is refused; every item of the table must be as before (checked after each test)."""

    @pytest.fixture(autouse=True)
    def _nothing_written(self, world: World) -> Iterator[None]:
        with world.watch.unchanged():
            yield

    # ---- the body as such ----------------------------------------------------------------------

    @pytest.mark.parametrize("route", POST_ROUTES)
    @pytest.mark.parametrize(("raw", "code"), MALFORMED_BODIES)
    def test_malformed_body(self, world: World, route: str, raw: bytes, code: str) -> None:
        path, _, token = valid_body(world, route)
        assert_error(world.client.request("POST", path, raw=raw, token=token), 400, code)

    @pytest.mark.parametrize("raw", [b"[" * 50_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000], ids=["array", "object"])
    def test_deeply_nested_body(self, world: World, raw: bytes) -> None:
        assert len(raw) <= MAX_BODY
        path, _, token = valid_body(world, "holds")
        assert_error(world.client.request("POST", path, raw=raw, token=token), 400)

    @pytest.mark.parametrize("route", POST_ROUTES)
    def test_body_just_under_the_limit_is_judged_on_its_fields(self, world: World, route: str) -> None:
        path, body, token = valid_body(world, route)
        raw = json.dumps({**body, "pad": ""}).encode()
        raw = raw.replace(b'"pad": ""', b'"pad": "' + b"x" * (MAX_BODY - len(raw)) + b'"')
        assert len(raw) == MAX_BODY
        assert_error(world.client.request("POST", path, raw=raw, token=token), 400, field="pad")

    @pytest.mark.parametrize("route", POST_ROUTES)
    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml", ""],
    )
    def test_wrong_content_type(self, world: World, route: str, content_type: str) -> None:
        path, body, token = valid_body(world, route)
        resp = world.client.request(
            "POST", path, raw=json.dumps(body).encode(), token=token, headers={"content-type": content_type}
        )
        assert_error(resp, 415)

    @pytest.mark.parametrize("route", POST_ROUTES)
    @pytest.mark.parametrize("extra", ["bogus", "slotId", "ID", "for"])
    def test_unknown_field_is_named(self, world: World, route: str, extra: str) -> None:
        path, body, token = valid_body(world, route)
        assert_error(world.client.post(path, {**body, extra: "x"}, token=token), 400, field=extra)

    @pytest.mark.parametrize(
        ("route", "changes", "field"),
        [
            ("holds", {"slot_id": 123}, "slot_id"),
            ("holds", {"slot_id": ["x"]}, "slot_id"),
            ("holds", {"slot_id": {"id": "x"}}, "slot_id"),
            ("holds", {"slot_id": None, "timebook_id": 7}, "timebook_id"),
            ("appointments", {"phone": 91234567}, "phone"),
            ("appointments", {"answers": "ja"}, "answers"),
            ("appointments", {"answers": [["symptomer", "ja"]]}, "answers"),
            ("appointments", {"description": 5}, "description"),
            ("appointments", {"for_pid": 24085038849}, "for_pid"),
            ("appointments", {"slot_id": True}, "slot_id"),
            ("health-contacts", {"her_id": 8100099}, "her_id"),
            ("health-contacts", {"processes": "timebestilling"}, "processes"),
            ("health-contacts", {"organisation": ["K"]}, "organisation"),
            ("timebooks", {"hold_minutes": "ten"}, "hold_minutes"),
            ("timebooks", {"hold_minutes": 10.5}, "hold_minutes"),
            ("timebooks", {"cancel_deadline_hours": "a day"}, "cancel_deadline_hours"),
            ("timebooks", {"requires_confirmation": "maybe"}, "requires_confirmation"),
            ("timebooks", {"resource": "Lab"}, "resource"),
            ("timebooks", {"form": []}, "form"),
            ("timebooks", {"name": 7}, "name"),
            ("timebooks", {"health_contact_id": None}, "health_contact_id"),
            ("locations", {"name": {}}, "name"),
            ("locations", {"address": None}, "address"),
            ("locations", {"directions": 5}, "directions"),
            ("schedules", {"capacity": "two"}, "capacity"),
            ("schedules", {"slot_minutes": 15.5}, "slot_minutes"),
            ("schedules", {"weekdays": "1,2"}, "weekdays"),
            ("schedules", {"weekdays": ["mon"]}, "weekdays"),
            ("schedules", {"start_time": "8am"}, "start_time"),
            ("schedules", {"end_time": None}, "end_time"),
            ("schedules", {"from": "07.01.2030"}, "from"),
            ("schedules", {"to": [2030, 1, 8]}, "to"),
            ("schedules", {"location_id": None}, "location_id"),
        ],
    )
    def test_wrong_type(self, world: World, route: str, changes: dict[str, Any], field: str) -> None:
        path, body, token = valid_body(world, route)
        assert_error(world.client.post(path, {**body, **changes}, token=token), 400, field=field)

    @pytest.mark.parametrize("route", POST_ROUTES)
    def test_empty_object(self, world: World, route: str) -> None:
        path, _, token = valid_body(world, route)
        assert_error(
            world.client.post(path, {}, token=token),
            400,
            "invalid_request",
            field=(
                "body",
                "slot_id",
                "timebook_id",
                "phone",
                "organisation",
                "health_contact_id",
                "name",
                "location_id",
            ),
        )

    # ---- auth ----------------------------------------------------------------------------------

    @staticmethod
    def _bad_tokens(citizen: Citizen) -> dict[str, str | None]:
        claims = {"sub": citizen.pid, "role": "citizen", "name": "X"}
        now = int(datetime.now().timestamp())
        return {
            "missing": None,
            "garbage": "garbage",
            "three-dots": "a.b.c",
            "other-secret": issue_token(claims, "another-secret-of-enough-length-0123456789"),
            "expired": issue_token(claims, secret(), ttl_seconds=-3600),
            "not-yet-valid": jwt.encode({**claims, "nbf": now + 3600, "exp": now + 7200}, secret(), "HS256"),
            "no-exp": jwt.encode(claims, secret(), "HS256"),
            "alg-none": jwt.encode({**claims, "exp": now + 3600}, None, "none"),
            "bad-check-digits": issue_token({**claims, "sub": change_check_digit(citizen.pid)}, secret()),
            "sub-too-short": issue_token({**claims, "sub": "1234"}, secret()),
            "sub-not-digits": issue_token({**claims, "sub": "abcdefghijk"}, secret()),
            "unknown-role": issue_token({**claims, "role": "admin"}, secret()),
            "no-role": issue_token(without(claims, "role"), secret()),
            "bad-represents": issue_token({**claims, "represents": [{"pid": "123", "name": "Barn"}]}, secret()),
        }

    @pytest.mark.parametrize(
        "kind",
        [
            "missing",
            "garbage",
            "three-dots",
            "other-secret",
            "expired",
            "not-yet-valid",
            "no-exp",
            "alg-none",
            "bad-check-digits",
            "sub-too-short",
            "sub-not-digits",
            "unknown-role",
            "no-role",
            "bad-represents",
        ],
    )
    @pytest.mark.parametrize(
        ("method", "route"),
        [
            ("POST", "holds"),
            ("POST", "appointments"),
            ("GET", "/appointments"),
            ("POST", "timebooks"),
            ("DELETE", "/holds/x"),
            ("GET", "/appointments/x"),
        ],
    )
    def test_bad_token_is_401(self, world: World, kind: str, method: str, route: str) -> None:
        bad = self._bad_tokens(world.fresh_citizen())[kind]
        if method == "POST":
            path, body, _ = valid_body(world, route)
            resp = world.client.post(path, body, token=bad)
        else:
            resp = world.client.request(method, route, token=bad)
        assert_error(resp, 401)

    @pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer a.b.c"])
    def test_malformed_authorization_header_is_401(self, world: World, header: str) -> None:
        path, body, _ = valid_body(world, "holds")
        resp = world.client.request("POST", path, json_body=body, headers={"authorization": header})
        assert_error(resp, 401)

    @pytest.mark.parametrize("route", ["holds", "appointments"])
    def test_staff_may_not_hold_or_book(self, world: World, route: str) -> None:
        path, body, _ = valid_body(world, route)
        assert_error(world.client.post(path, body, token=world.staff_token), 403)

    def test_staff_may_not_list_or_release_citizen_things(self, world: World) -> None:
        assert_error(world.client.get("/appointments", token=world.staff_token), 403)
        assert_error(world.client.delete(f"/holds/{world.hold_id}", token=world.staff_token), (403))
        assert free_of(world.client, world.tb, world.held_slot) == world.held_slot["free"] - 1

    @pytest.mark.parametrize("route", ["health-contacts", "timebooks", "locations", "schedules"])
    def test_citizen_may_not_administer(self, world: World, route: str) -> None:
        path, body, _ = valid_body(world, route)
        citizen = world.fresh_citizen()
        assert_error(world.client.post(path, body, token=citizen.token), 403)
        # a citizen token that claims orgs is still a citizen
        sneaky = token_for(citizen.pid, "citizen", orgs=[SMITTEVERN_HER_ID, "8100099"])
        assert_error(world.client.post(path, body, token=sneaky), 403)

    @pytest.mark.parametrize("route", ["timebooks", "locations", "schedules"])
    def test_staff_of_another_organisation(self, world: World, route: str) -> None:
        path, body, _ = valid_body(world, route)
        resp = world.client.post(path, body, token=other_org_staff_token())
        assert resp.status in (403, 404), resp
        assert_error(resp, resp.status)

    def test_health_contact_for_a_her_id_not_administered(self, world: World) -> None:
        body = {"organisation": "K", "service": "S", "her_id": "8100077"}
        assert_error(world.client.post("/admin/health-contacts", body, token=world.staff_token), 403)

    def test_staff_of_another_organisation_may_not_take_an_existing_her_id(self, world: World) -> None:
        body = {"organisation": "K", "service": "S", "her_id": SMITTEVERN_HER_ID}
        resp = world.client.post("/admin/health-contacts", body, token=other_org_staff_token())
        assert_error(resp, 403)

    # ---- routes and methods --------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/nope"),
            ("GET", "/api/health-contacts"),
            ("GET", "/timebooks"),
            ("GET", "/timebooks/x/y"),
            ("POST", "/holds/x/y"),
            ("GET", "/admin"),
            ("POST", "/admin/timebooks/x/nope"),
            ("GET", "/dev"),
        ],
    )
    def test_unknown_route_is_404(self, world: World, method: str, path: str) -> None:
        assert_error(world.client.request(method, path, json_body={}), 404)

    @pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/holds/x/y")])
    def test_unknown_route_with_a_token_is_404(self, world: World, method: str, path: str) -> None:
        citizen = world.fresh_citizen()
        assert_error(world.client.request(method, path, json_body={}, token=citizen.token), 404)

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/health-contacts"),
            ("DELETE", "/health-contacts"),
            ("PUT", "/timebooks/x"),
            ("PATCH", "/timebooks/x"),
            ("POST", "/timebooks/x/slots"),
            ("GET", "/holds"),
            ("PUT", "/holds"),
            ("GET", "/holds/x"),
            ("DELETE", "/appointments"),
            ("PUT", "/appointments/x"),
            ("GET", "/admin/timebooks"),
            ("DELETE", "/admin/timebooks/x/schedules"),
            ("HEAD", "/holds"),
        ],
    )
    def test_wrong_method_is_405(self, world: World, method: str, path: str) -> None:
        citizen = world.fresh_citizen()
        resp = world.client.request(method, path, json_body={}, token=citizen.token)
        assert_error(resp, 405)

    # ---- discovery -----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "path",
        [
            "/timebooks/tbnope",
            "/timebooks/tbnope/calendar?month=2030-01",
            "/timebooks/tbnope/slots?date=2030-01-07",
            "/health-contacts/hcnope/timebooks",
            "/timebooks/" + "a" * 3000,
            "/timebooks/%00",
            "/timebooks/TB%23x",
        ],
    )
    def test_unknown_ids_are_404(self, world: World, path: str) -> None:
        assert_error(world.client.get(path), 404)

    def test_a_timebook_id_is_not_a_health_contact_id(self, world: World) -> None:
        assert_error(world.client.get(f"/health-contacts/{world.tb}/timebooks"), 404)
        assert_error(world.client.get(f"/timebooks/{world.demo.smittevern_id}"), 404)

    @pytest.mark.parametrize(
        "query",
        [
            "",
            "?month=",
            "?month=2024-13",
            "?month=2024-00",
            "?month=abc",
            "?month=2024-1",
            "?month=2024-01-01",
            "?month=24-01",
            "?month=2024/01",
            "?month=%20",
            "?date=2024-01",
        ],
    )
    def test_calendar_needs_a_month(self, world: World, query: str) -> None:
        assert_error(world.client.get(f"/timebooks/{world.tb}/calendar{query}"), 400, field="month")

    @pytest.mark.parametrize("month", ["0000-01", "0001-01", "1999-12", "2101-01", "9999-12"])
    def test_calendar_month_out_of_range(self, world: World, month: str) -> None:
        assert_error(world.client.get(f"/timebooks/{world.tb}/calendar?month={month}"), 400, field="month")

    @pytest.mark.parametrize("day", ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"])
    def test_slots_date_out_of_range(self, world: World, day: str) -> None:
        assert_error(world.client.get(f"/timebooks/{world.tb}/slots?date={day}"), 400, field="date")

    @pytest.mark.parametrize(
        "query",
        [
            "",
            "?date=",
            "?date=2024-02-30",
            "?date=2023-02-29",
            "?date=abc",
            "?date=2024-13-01",
            "?date=01.02.2030",
            "?month=2030-01",
        ],
    )
    def test_slots_need_a_date(self, world: World, query: str) -> None:
        assert_error(world.client.get(f"/timebooks/{world.tb}/slots{query}"), 400, field="date")

    @pytest.mark.parametrize("what", ["calendar", "slots"])
    @pytest.mark.parametrize("location", ["locnope", "other-timebook"])
    def test_unknown_location_is_404(self, world: World, what: str, location: str) -> None:
        location_id = world.vaksine_location_id if location == "other-timebook" else location
        query = f"month={world.slot['start'][:7]}" if what == "calendar" else f"date={world.slot['start'][:10]}"
        resp = world.client.get(f"/timebooks/{world.tb}/{what}?{query}&location={location_id}")
        assert_error(resp, 404)

    # ---- holds ---------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            pytest.param({}, ("body", "slot_id", "timebook_id"), id="empty"),
            pytest.param({"slot_id": None, "timebook_id": None}, ("body", "slot_id", "timebook_id"), id="nulls"),
            pytest.param({"slot_id": "", "timebook_id": ""}, ("slot_id", "timebook_id"), id="blanks"),
            pytest.param({"slot_id": "   "}, "slot_id", id="whitespace"),
            pytest.param({"slot_id": "s" * 101}, "slot_id", id="long-slot-id"),
            pytest.param({"slot_id": "SLOT", "timebook_id": "TB"}, ("body", "slot_id", "timebook_id"), id="both"),
            pytest.param({"slot_id": "SLOT", "date": "2030-01-07"}, ("body", "date"), id="slot-with-date"),
            pytest.param({"slot_id": "SLOT", "location_id": "LOC"}, ("body", "location_id"), id="slot-with-location"),
            pytest.param({"location_id": "LOC"}, ("body", "timebook_id"), id="location-only"),
            pytest.param({"date": "2030-01-07"}, ("body", "timebook_id"), id="date-only"),
            pytest.param({"timebook_id": "TB", "date": "2024-02-30"}, "date", id="bad-date"),
            pytest.param({"timebook_id": "TB", "date": "tomorrow"}, "date", id="word-date"),
        ],
    )
    def test_hold_validation(self, world: World, body: dict[str, Any], field: Any) -> None:
        ids = {"SLOT": world.slot["id"], "TB": world.tb, "LOC": world.loc}
        body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
        citizen = world.fresh_citizen()
        assert_error(world.client.post("/holds", body, token=citizen.token), 400, field=field)
        assert free_of(world.client, world.tb, world.slot) == world.slot["free"]

    @pytest.mark.parametrize(
        "slot_id",
        [
            pytest.param("garbage", id="garbage"),
            pytest.param("tbnope_locnope_203001070800", id="unknown-timebook"),
            pytest.param("TB_locnope_203001070800", id="unknown-location"),
            pytest.param("TB_VAKSINE_203001070800", id="location-of-another-timebook"),
            pytest.param("TB_LOC_203001070801", id="no-slot-at-that-minute"),
            pytest.param("TB_LOC_203002300800", id="impossible-date"),
            pytest.param("TB_LOC_999912312345", id="far-future"),
            pytest.param("TB_LOC_000101010000", id="year-one"),
        ],
    )
    def test_hold_unknown_slot_is_404(self, world: World, slot_id: str) -> None:
        slot_id = (
            slot_id.replace("TB", world.tb).replace("LOC", world.loc).replace("VAKSINE", world.vaksine_location_id)
        )
        assert_error(world.client.post("/holds", {"slot_id": slot_id}, token=world.fresh_citizen().token), 404)

    def test_hold_slot_in_the_past(self, world: World) -> None:
        resp = world.client.post(
            "/holds", {"slot_id": past_slot_id(world.tb, world.loc)}, token=world.fresh_citizen().token
        )
        assert resp.status in (404, 409), resp
        assert_error(resp, resp.status)

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            pytest.param({"timebook_id": "tbnope"}, 404, id="unknown-timebook"),
            pytest.param({"timebook_id": "TB", "location_id": "locnope"}, 404, id="unknown-location"),
            pytest.param({"timebook_id": "TB", "location_id": "VAKSINE"}, 404, id="location-of-another-timebook"),
            pytest.param({"timebook_id": "TB", "date": "9999-12-31"}, (400, 409), id="nothing-free-that-late"),
        ],
    )
    def test_hold_first_available_refused(self, world: World, body: dict[str, Any], status: Any) -> None:
        ids = {"TB": world.tb, "VAKSINE": world.vaksine_location_id}
        body = {k: ids.get(v, v) for k, v in body.items()}
        resp = world.client.post("/holds", body, token=world.fresh_citizen().token)
        assert resp.status in (status if isinstance(status, tuple) else (status,)), resp
        assert_error(resp, resp.status)

    @pytest.mark.parametrize(
        "hold_id",
        [
            "garbage",
            "h0_0123456789_garbage",
            "HELD0",
            "HELD1",
            "HELD99",
            "h0_0123456789_" + "a" * 3000 + "_b_203001070800",
            "OTHERNONCE",
        ],
    )
    def test_release_unknown_hold_is_404(self, world: World, hold_id: str) -> None:
        held = world.held_slot["id"]
        hold_id = {
            "HELD0": fake_hold_id(held, 0),
            "HELD1": fake_hold_id(held, 1),
            "HELD99": fake_hold_id(held, 99),
            "OTHERNONCE": world.hold_id.split("_", 2)[0] + "_abcdefabcd_" + held,
        }.get(hold_id, hold_id)
        assert_error(world.client.delete(f"/holds/{hold_id}", token=world.holder.token), 404)
        assert free_of(world.client, world.tb, world.held_slot) == world.held_slot["free"] - 1

    def test_release_another_citizens_hold_is_404_and_it_still_blocks(self, world: World) -> None:
        stranger = world.fresh_citizen()
        assert_error(world.client.delete(f"/holds/{world.hold_id}", token=stranger.token), 404)
        # a token that represents the holder is still not the holder
        guardian = world.fresh_citizen(represents=[{"pid": world.holder.pid, "name": "Barn"}])
        assert_error(world.client.delete(f"/holds/{world.hold_id}", token=guardian.token), 404)
        assert free_of(world.client, world.tb, world.held_slot) == world.held_slot["free"] - 1

    # ---- appointments --------------------------------------------------------------------------

    def _appointment(self, world: World, source: str, how: str, change: Any) -> tuple[Citizen, dict[str, Any]]:
        if source == "hold":
            citizen = world.holder
            body: dict[str, Any] = {"hold_id": world.hold_id}
        else:
            citizen = world.fresh_citizen()
            body = {"slot_id": world.slot["id"]}
        body.update({"answers": dict(KORONATEST_ANSWERS), "phone": citizen.phone, "description": "Hoste"})
        if how == "drop":
            body = without(body, *change)
        elif how == "answers":
            body["answers"].update(change)
        elif how == "drop-answer":
            del body["answers"][change]
        else:
            ids = {"HOLD": world.hold_id, "SLOT": world.slot["id"], "BADCHECK": change_check_digit(citizen.pid)}
            body.update({k: ids.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
        body = {k: v for k, v in body.items() if v is not None or k in ("phone", "description")}
        return citizen, body

    def _nothing_booked(self, world: World, citizen: Citizen) -> None:
        """What the caller can see; the autouse check covers every other item of the table."""
        assert appointments_of(world.client, citizen.token) == []
        if citizen is world.holder:
            assert free_of(world.client, world.tb, world.held_slot) == world.held_slot["free"] - 1
        else:
            assert free_of(world.client, world.tb, world.slot) == world.slot["free"]

    @pytest.mark.parametrize("source", ["hold", "slot"])
    @pytest.mark.parametrize(("how", "change", "field"), APPOINTMENT_INVALID)
    def test_appointment_validation(self, world: World, source: str, how: str, change: Any, field: Any) -> None:
        citizen, body = self._appointment(world, source, how, change)
        assert_error(world.client.post("/appointments", body, token=citizen.token), 400, field=field)
        self._nothing_booked(world, citizen)

    def test_all_field_errors_at_once(self, world: World) -> None:
        citizen, body = self._appointment(world, "slot", "set", {"phone": "abc", "for_pid": "123"})
        body["answers"] = {"symptomer": "maybe", "nope": "ja"}
        error = assert_error(world.client.post("/appointments", body, token=citizen.token), 400)
        named = {f["field"] for f in error["fields"]}
        assert {"phone", "for_pid", "answers.symptomer", "answers.nope", "answers.naerkontakt"} <= named, named
        self._nothing_booked(world, citizen)

    @pytest.mark.parametrize("source", ["hold", "slot"])
    def test_booking_for_someone_not_represented_is_403(self, world: World, source: str) -> None:
        stranger = world.fresh_citizen()
        citizen, body = self._appointment(world, source, "set", {"for_pid": stranger.pid})
        assert_error(world.client.post("/appointments", body, token=citizen.token), 403)
        self._nothing_booked(world, citizen)
        assert appointments_of(world.client, stranger.token) == []

    @pytest.mark.parametrize(
        "hold_id",
        ["garbage", "OTHERS", "NOSLOT", "FAKE0", "FAKE1", "PAST"],
    )
    def test_booking_a_hold_that_is_not_yours_is_404(self, world: World, hold_id: str) -> None:
        citizen = world.fresh_citizen()
        hold_id = {
            "OTHERS": world.hold_id,
            "NOSLOT": fake_hold_id("tbnope_locnope_203001070800"),
            "FAKE0": fake_hold_id(world.slot["id"], 0),
            "FAKE1": fake_hold_id(world.held_slot["id"], 1),
            "PAST": fake_hold_id(past_slot_id(world.tb, world.loc)),
        }.get(hold_id, hold_id)
        body = {"hold_id": hold_id, "answers": KORONATEST_ANSWERS, "phone": citizen.phone}
        resp = world.client.post("/appointments", body, token=citizen.token)
        # a made-up hold on a real slot may also be told "gone" (409); never booked, never 5xx
        assert resp.status in ((404,) if hold_id in ("garbage", world.hold_id) else (404, 409)), resp
        assert_error(resp, resp.status)
        self._nothing_booked(world, citizen)
        assert appointments_of(world.client, world.holder.token) == []

    @pytest.mark.parametrize("slot_id", ["garbage", "tbnope_locnope_203001070800", "PAST"])
    def test_booking_an_unknown_or_past_slot(self, world: World, slot_id: str) -> None:
        citizen = world.fresh_citizen()
        slot_id = past_slot_id(world.tb, world.loc) if slot_id == "PAST" else slot_id
        body = {"slot_id": slot_id, "answers": KORONATEST_ANSWERS, "phone": citizen.phone}
        resp = world.client.post("/appointments", body, token=citizen.token)
        assert resp.status in (404, 409), resp
        assert_error(resp, resp.status)
        self._nothing_booked(world, citizen)

    @pytest.mark.parametrize(
        "key", ["k" * 201, "k" * 3000, "æøå", "two words", "tab\tkey", ""], ids=lambda k: f"{k[:8]!r}-{len(k)}"
    )
    @pytest.mark.parametrize("route", ["holds", "appointments"])
    def test_bad_idempotency_key_is_400(self, world: World, route: str, key: str) -> None:
        """Once a 503: a 3000-character key made the DynamoDB key longer than 2048 bytes."""
        path, body, token = valid_body(world, route)
        resp = world.client.request("POST", path, json_body=body, token=token, headers={"idempotency-key": key})
        assert_error(resp, 400, field="Idempotency-Key")
        assert free_of(world.client, world.tb, world.slot) == world.slot["free"]

    def test_unknown_appointment_is_404(self, world: World) -> None:
        citizen = world.fresh_citizen()
        for appointment_id in ("apnope", "a" * 3000, "%00"):
            assert_error(world.client.get(f"/appointments/{appointment_id}", token=citizen.token), 404)

    # ---- staff set-up --------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"her_id": "81000AB"}, "her_id"),
            ({"her_id": ""}, "her_id"),
            ({"her_id": "12345678901"}, "her_id"),
            ({"her_id": "-8100099"}, "her_id"),
            ({"processes": ["timebestilling", "bogus"]}, "processes"),
            ({"processes": "timebestilling"}, "processes"),
            ({"organisation": ""}, "organisation"),
            ({"service": "s" * 201}, "service"),
        ],
    )
    def test_health_contact_validation(self, world: World, changes: dict[str, Any], field: str) -> None:
        path, body, token = valid_body(world, "health-contacts")
        assert_error(world.client.post(path, {**body, **changes}, token=token), 400, field=field)

    def test_health_contact_her_id_taken_is_409(self, world: World) -> None:
        before = world.client.get("/health-contacts").json["items"]
        body = {"organisation": "Helsenorge Kommune", "service": "Smittevern 2", "her_id": SMITTEVERN_HER_ID}
        assert_error(world.client.post("/admin/health-contacts", body, token=world.staff_token), 409)
        assert world.client.get("/health-contacts").json["items"] == before

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"type": "massage"}, "type"),
            ({"type": "Koronatest"}, "type"),
            ({"hold_minutes": 0}, "hold_minutes"),
            ({"hold_minutes": -1}, "hold_minutes"),
            ({"hold_minutes": 61}, "hold_minutes"),
            ({"cancel_deadline_hours": -1}, "cancel_deadline_hours"),
            ({"cancel_deadline_hours": 721}, "cancel_deadline_hours"),
            ({"max_active_per_person": 0}, "max_active_per_person"),
            ({"retention_days": 0}, "retention_days"),
            ({"retention_days": 3651}, "retention_days"),
            ({"retention_days": "lenge"}, "retention_days"),
            ({"retention_days": 1.5}, "retention_days"),
            ({"name": ""}, "name"),
            ({"name": "n" * 201}, "name"),
            ({"description": "d" * 2001}, "description"),
            ({"resource": {}}, "resource.name"),
            ({"resource": {"name": "R", "extra": 1}}, "resource.extra"),
            ({"form": {"questions": [{"id": "q1", "text": "Velg", "kind": "choice"}]}}, "form.questions.0"),
            ({"form": {"questions": [{"id": "q1", "text": "Ja?", "options": ["a"]}]}}, "form.questions.0"),
            ({"form": {"questions": [{"id": "q1", "text": "A?"}, {"id": "q1", "text": "B?"}]}}, "form.questions"),
            ({"form": {"questions": [{"id": "bad id!", "text": "A?"}]}}, "form.questions.0.id"),
            ({"form": {"questions": [{"id": "q1", "text": ""}]}}, "form.questions.0.text"),
            ({"form": {"questions": [{"id": "q1", "text": "A?", "kind": "scale"}]}}, "form.questions.0.kind"),
            ({"form": {"questions": [{"id": f"q{i}", "text": "A?"} for i in range(51)]}}, "form.questions"),
        ],
    )
    def test_timebook_validation(self, world: World, changes: dict[str, Any], field: str) -> None:
        before = world.client.get(f"/health-contacts/{world.demo.smittevern_id}/timebooks").json["items"]
        body = timebook_body(world.demo.smittevern_id, **changes)
        assert_error(world.client.post("/admin/timebooks", body, token=world.staff_token), 400, field=field)
        assert world.client.get(f"/health-contacts/{world.demo.smittevern_id}/timebooks").json["items"] == before

    @pytest.mark.parametrize("health_contact_id", ["hcnope", "TB", "a" * 100])
    def test_timebook_for_unknown_health_contact_is_404(self, world: World, health_contact_id: str) -> None:
        body = timebook_body(world.tb if health_contact_id == "TB" else health_contact_id)
        assert_error(world.client.post("/admin/timebooks", body, token=world.staff_token), 404)

    @pytest.mark.parametrize("timebook_id", ["tbnope", "HC", "a" * 3000])
    @pytest.mark.parametrize("what", ["locations", "schedules"])
    def test_set_up_of_unknown_timebook_is_404(self, world: World, timebook_id: str, what: str) -> None:
        timebook_id = world.demo.smittevern_id if timebook_id == "HC" else timebook_id
        body = {"name": "B", "address": "Gaten 2"} if what == "locations" else schedule_body(world.loc)
        resp = world.client.post(f"/admin/timebooks/{timebook_id}/{what}", body, token=world.staff_token)
        assert_error(resp, 404)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"name": ""}, "name"),
            ({"address": "  "}, "address"),
            ({"name": "n" * 201}, "name"),
            ({"directions": "d" * 2001}, "directions"),
        ],
    )
    def test_location_validation(self, world: World, changes: dict[str, Any], field: str) -> None:
        path, body, token = valid_body(world, "locations")
        before = world.client.get(f"/timebooks/{world.tb}").json["locations"]
        assert_error(world.client.post(path, {**body, **changes}, token=token), 400, field=field)
        assert world.client.get(f"/timebooks/{world.tb}").json["locations"] == before

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            pytest.param({"weekdays": [0]}, "weekdays", id="weekday-0"),
            pytest.param({"weekdays": [8]}, "weekdays", id="weekday-8"),
            pytest.param({"weekdays": []}, "weekdays", id="no-weekdays"),
            pytest.param({"weekdays": [1, 2, 3, 4, 5, 6, 7, 1]}, "weekdays", id="eight-weekdays"),
            pytest.param({"capacity": 0}, "capacity", id="capacity-0"),
            pytest.param({"capacity": 101}, "capacity", id="capacity-101"),
            pytest.param({"slot_minutes": 3}, "slot_minutes", id="slot-3-minutes"),
            pytest.param({"slot_minutes": 0}, "slot_minutes", id="slot-0-minutes"),
            pytest.param({"slot_minutes": 481}, "slot_minutes", id="slot-481-minutes"),
            pytest.param({"start_time": "25:00"}, "start_time", id="start-25h"),
            pytest.param({"end_time": "24:00"}, "end_time", id="end-24h"),
            pytest.param({"from": "2030-02-30"}, "from", id="impossible-from"),
            pytest.param({"from": None}, "from", id="missing-from"),
            pytest.param({"to": None}, "to", id="missing-to"),
            pytest.param({"to": "nope"}, "to", id="bad-to"),
            pytest.param({"location_id": ""}, "location_id", id="blank-location"),
        ],
    )
    def test_schedule_validation(self, world: World, changes: dict[str, Any], field: str) -> None:
        body = {k: v for k, v in {**schedule_body(world.loc), **changes}.items() if v is not None}
        path = f"/admin/timebooks/{world.tb}/schedules"
        assert_error(world.client.post(path, body, token=world.staff_token), 400, field=field)

    def test_schedule_internal_field_name_is_reported_as_sent(self, world: World) -> None:
        body = schedule_body(world.loc, date_from="2030-01-07")
        resp = world.client.post(f"/admin/timebooks/{world.tb}/schedules", body, token=world.staff_token)
        assert_error(resp, 400, field="date_from")

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            pytest.param({"from": "2030-01-08", "to": "2030-01-07"}, ("from", "to"), id="to-before-from"),
            pytest.param({"to": "2031-01-09"}, ("from", "to"), id="window-over-366-days"),
            pytest.param({"end_time": "08:00"}, ("start_time", "end_time"), id="end-equals-start"),
            pytest.param({"end_time": "07:00"}, ("start_time", "end_time"), id="end-before-start"),
            pytest.param(
                {
                    "from": "2030-01-01",
                    "to": "2030-12-31",
                    "weekdays": [1, 2, 3, 4, 5, 6, 7],
                    "start_time": "00:00",
                    "end_time": "23:55",
                    "slot_minutes": 5,
                },
                ("from", "to", "slot_minutes"),
                id="too-many-slots",
            ),
        ],
    )
    def test_schedule_cross_field_is_400(self, world: World, changes: dict[str, Any], field: Any) -> None:
        path = f"/admin/timebooks/{world.tb}/schedules"
        resp = world.client.post(path, schedule_body(world.loc, **changes), token=world.staff_token)
        assert_error(resp, 400, "invalid_request", field=(*field, "body"))

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            pytest.param({"from": "2030-01-08", "to": "2030-01-07"}, ("from", "to"), id="to-before-from"),
            pytest.param({"to": "2031-01-09"}, ("from", "to"), id="window-over-366-days"),
            pytest.param({"end_time": "08:00"}, ("start_time", "end_time"), id="end-equals-start"),
        ],
    )
    def test_schedule_cross_field_names_the_field(self, world: World, changes: dict[str, Any], field: Any) -> None:
        path = f"/admin/timebooks/{world.tb}/schedules"
        resp = world.client.post(path, schedule_body(world.loc, **changes), token=world.staff_token)
        assert_error(resp, 400, field=field)

    @pytest.mark.parametrize("location", ["locnope", "VAKSINE"])
    def test_schedule_unknown_location_is_404(self, world: World, location: str) -> None:
        location_id = world.vaksine_location_id if location == "VAKSINE" else location
        path = f"/admin/timebooks/{world.tb}/schedules"
        assert_error(world.client.post(path, schedule_body(location_id), token=world.staff_token), 404)

    @pytest.mark.parametrize(
        ("start", "end"),
        [("08:00", "09:00+01:00"), ("08:00Z", "09:00"), ("08:00+01:00", "09:00+01:00")],
        ids=["aware-end", "aware-start", "both-aware"],
    )
    def test_schedule_times_with_an_offset(self, world: World, start: str, end: str) -> None:
        """Opening hours are Oslo wall-clock times; once a mix of naive and aware times was a 500
        (TypeError comparing them) and two aware times opened nothing (201, created 0)."""
        path = f"/admin/timebooks/{world.tb}/schedules"
        body = schedule_body(world.loc, start_time=start, end_time=end)
        assert_error(world.client.post(path, body, token=world.staff_token), 400, field=("start_time", "end_time"))

    @pytest.mark.parametrize(
        "changes",
        [
            {"from": "1999-12-31", "to": "2000-01-03"},
            {"from": "2100-12-31", "to": "2101-01-01"},
            {"from": "9999-12-31", "to": "9999-12-31", "weekdays": [5]},
            {"from": "9999-12-30", "to": "9999-12-31", "weekdays": [4], "end_time": "23:59", "slot_minutes": 480},
            {"from": "0001-01-01", "to": "0001-01-01", "weekdays": [1], "start_time": "00:00"},
        ],
        ids=["before-2000", "after-2100", "last-day", "last-day-late", "first-day-midnight"],
    )
    def test_schedule_at_the_ends_of_the_calendar(self, world: World, changes: dict[str, Any]) -> None:
        """Once an OverflowError (500): slot_times stepped past date.max / below date.min."""
        path = f"/admin/timebooks/{world.tb}/schedules"
        resp = world.client.post(path, schedule_body(world.loc, **changes), token=world.staff_token)
        assert resp.status < 500, resp
        assert_error(resp, 400, field=("from", "to", "body"))


# ---- cases that need a fresh world --------------------------------------------------------------


def _book(client: Any, citizen: Citizen, source: dict[str, Any], **extra: Any) -> Any:
    body = {**source, "answers": KORONATEST_ANSWERS, "phone": citizen.phone, **extra}
    return client.post("/appointments", body, token=citizen.token)


def test_expired_hold_is_410_and_books_nothing(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    hold = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token)
    assert hold.status == 201, hold
    clock.advance(timedelta(minutes=11))  # the Koronatest hold lasts 10 minutes
    assert_error(_book(client, citizen, {"hold_id": hold.json["id"]}), 410, "hold_expired")
    assert appointments_of(client, citizen.token) == []
    assert free_of(client, demo.koronatest_id, slot) == slot["free"]
    # its owner may still let it go (or be told it is gone), but nobody else may
    other = Citizen(3)
    assert_error(client.delete(f"/holds/{hold.json['id']}", token=other.token), 404)
    assert client.delete(f"/holds/{hold.json['id']}", token=citizen.token).status in (204, 404)


def test_consumed_hold_is_409_and_cannot_be_released(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    hold = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token)
    assert hold.status == 201, hold
    first = _book(client, citizen, {"hold_id": hold.json["id"]})
    assert first.status == 201, first
    assert_error(_book(client, citizen, {"hold_id": hold.json["id"]}), 409)
    assert_error(_book(client, citizen, {"hold_id": hold.json["id"]}, description="other"), 409)
    assert_error(client.delete(f"/holds/{hold.json['id']}", token=citizen.token), 404)
    assert [a["id"] for a in appointments_of(client, citizen.token)] == [first.json["id"]]
    assert free_of(client, demo.koronatest_id, slot) == slot["free"] - 1


def test_another_citizen_cannot_book_a_live_hold(client, demo, citizen, other_citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    hold = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token)
    assert hold.status == 201, hold
    assert_error(_book(client, other_citizen, {"hold_id": hold.json["id"]}), 404)
    assert appointments_of(client, other_citizen.token) == []
    assert appointments_of(client, citizen.token) == []
    # the hold is untouched: its owner can still book it
    assert _book(client, citizen, {"hold_id": hold.json["id"]}).status == 201


def test_slot_that_has_begun_is_409(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    clock.advance(datetime.fromisoformat(slot["start"]) - clock.now() + timedelta(minutes=1))
    assert_error(client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token), 409, "slot_unavailable")
    assert_error(_book(client, citizen, {"slot_id": slot["id"]}), 409, "slot_unavailable")
    assert appointments_of(client, citizen.token) == []


def test_description_of_1000_characters_is_accepted(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    resp = _book(client, citizen, {"slot_id": slot["id"]}, description="x" * 1000)
    assert resp.status == 201, resp
    assert resp.json["description"] == "x" * 1000


def test_idempotency_key_reused_for_another_request_is_409(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    headers = {"idempotency-key": "k-1"}
    body = {"slot_id": slot["id"], "answers": KORONATEST_ANSWERS, "phone": citizen.phone}
    first = client.request("POST", "/appointments", json_body=body, token=citizen.token, headers=headers)
    assert first.status == 201, first
    again = client.request(
        "POST", "/appointments", json_body={**body, "description": "changed"}, token=citizen.token, headers=headers
    )
    assert_error(again, 409)
    assert [a["id"] for a in appointments_of(client, citizen.token)] == [first.json["id"]]


def test_schedule_internal_field_names_are_unknown(client, demo, staff_token):
    body = schedule_body(demo.teststasjon_id)
    body["date_from"], body["date_to"] = body.pop("from"), body.pop("to")
    resp = client.post(f"/admin/timebooks/{demo.koronatest_id}/schedules", body, token=staff_token)
    assert_error(resp, 400, field=("date_from", "date_to"))


def test_schedule_times_with_seconds(client, demo, staff_token):
    path = f"/admin/timebooks/{demo.koronatest_id}/schedules"
    resp = client.post(path, schedule_body(demo.teststasjon_id, start_time="08:00:30"), token=staff_token)
    assert_error(resp, 400, field="start_time")


# ---- property tests: arbitrary JSON never makes a 5xx -------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
id_like = st.text(alphabet=string.ascii_lowercase + string.digits + "_", max_size=40)


_DROP = object()


def _bodies(fields: dict[str, st.SearchStrategy], valid: dict[str, Any]) -> st.SearchStrategy:
    """Any JSON at all; an object with some of the real field names, each plausible or arbitrary; or a valid
    body with some fields kept, some replaced and some dropped (so the checks past validation run too)."""
    named = st.fixed_dictionaries({}, optional={name: plausible | json_values for name, plausible in fields.items()})
    with_extra = st.builds(
        lambda d, extra: {**d, **extra}, named, st.dictionaries(st.text(max_size=8), json_values, max_size=2)
    )

    @st.composite
    def mutated(draw: Any) -> dict[str, Any]:
        body = {}
        for name in fields:
            roll = draw(st.integers(0, 9))  # 0: drop, 1: plausible or arbitrary, else keep the valid value
            if roll == 1:
                body[name] = draw(fields[name] | json_values)
            elif roll > 1 and name in valid:
                body[name] = valid[name]
        return body

    return st.one_of(json_values, named, with_extra, mutated(), mutated(), mutated())


_first_slots: dict[str, dict[str, Any]] = {}


def _cached_first_slot(client: Any, timebook_id: str) -> dict[str, Any]:
    """first_free_slot once per test (timebook ids are new in every test), not once per example."""
    if timebook_id not in _first_slots:
        _first_slots[timebook_id] = first_free_slot(client, timebook_id)
    return _first_slots[timebook_id]


def _post_arbitrary(client: Any, path: str, body: Any, token: str) -> None:
    raw = json.dumps(body).encode()
    resp = client.request("POST", path, raw=raw, token=token)
    event(f"status {resp.status}")  # --hypothesis-show-statistics tells how often each answer came
    assert_client_error(resp)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_arbitrary_json_to_holds(client, demo, citizen, data):
    slot = _cached_first_slot(client, demo.koronatest_id)
    body = data.draw(
        _bodies(
            {
                "slot_id": st.sampled_from([slot["id"], past_slot_id(demo.koronatest_id, demo.teststasjon_id)])
                | id_like,
                "timebook_id": st.sampled_from([demo.koronatest_id, demo.konsultasjon_id, demo.smittevern_id])
                | id_like,
                "location_id": st.sampled_from([demo.teststasjon_id, "locnope"]) | id_like,
                "date": st.dates().map(date.isoformat) | st.text(max_size=12),
            },
            {"slot_id": slot["id"]} if data.draw(st.booleans()) else {"timebook_id": demo.koronatest_id},
        )
    )
    _post_arbitrary(client, "/holds", body, citizen.token)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_arbitrary_json_to_appointments(client, demo, citizen, data):
    slot = _cached_first_slot(client, demo.koronatest_id)
    answer_values = st.sampled_from(["ja", "nei", "Ja", True, False, "maybe", "", None]) | json_values
    body = data.draw(
        _bodies(
            {
                "hold_id": st.sampled_from([fake_hold_id(slot["id"]), "h0_x_y"]) | id_like,
                "slot_id": st.sampled_from([slot["id"]]) | id_like,
                "for_pid": st.sampled_from([citizen.pid, change_check_digit(citizen.pid), "24085038849"])
                | st.text(alphabet=string.digits, max_size=12),
                "answers": st.dictionaries(
                    st.sampled_from([*KORONATEST_ANSWERS, "nope"]) | st.text(max_size=45), answer_values, max_size=6
                ),
                "phone": st.sampled_from([citizen.phone, "123", "+4791234567", "0047 912 34 567"])
                | st.text(max_size=32),
                "description": st.text(max_size=1005),
            },
            {"slot_id": slot["id"], "answers": KORONATEST_ANSWERS, "phone": citizen.phone, "description": "Hoste"},
        )
    )
    _post_arbitrary(client, "/appointments", body, citizen.token)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_arbitrary_json_to_schedules(client, demo, staff_token, data):
    # Mostly dates in one short window, so a valid draw makes few slots; sometimes any date at all.
    dates = (
        st.dates(date(2030, 1, 1), date(2030, 1, 14)).map(date.isoformat)
        | st.dates().map(date.isoformat)
        | st.text(max_size=12)
    )
    times = (
        st.sampled_from(["07:00", "08:00", "08:30", "10:00", "8:00", "24:00", "10", "00:00", "23:59"])
        | st.sampled_from(["08:00+01:00", "09:00Z", "08:00:30", "T08:00"])
        | st.text(max_size=8)
    )
    body = data.draw(
        _bodies(
            {
                "location_id": st.sampled_from([demo.teststasjon_id, "locnope"]) | id_like,
                "from": dates,
                "to": dates,
                "weekdays": st.lists(st.integers(-1, 9), max_size=9),
                "start_time": times,
                "end_time": times,
                "slot_minutes": st.integers(-5, 600),
                "capacity": st.integers(-1, 200),
            },
            schedule_body(demo.teststasjon_id),
        )
    )
    _post_arbitrary(client, f"/admin/timebooks/{demo.koronatest_id}/schedules", body, staff_token)
