"""Who may call what: every route of app.py refuses the wrong caller, and public routes need no token.

`ROUTE_TESTS` maps each (method, path) of `app.routes` to the test that proves its access rule;
`test_every_route_has_an_access_test` fails when a route is added without one. The rules
(DESIGN.md decision 6, API.md):

- no token on a signed-in route: 401 (the gateway, before any handler runs);
- a citizen on a staff route: 403; staff on a citizen route: 403;
- staff whose `orgs` lack the owning HER-id: 404 on anything about a timebook or appointment
  (never revealing that it exists);
- another citizen: 404 on someone's appointment, hold, .ics, cancel, reschedule; their inbox and
  list never show someone else's messages or appointments;
- a representative sees the represented person's appointment (and that person does too, when
  signed in themselves), until the token no longer lists them in `represents`.

All requests share one seeded world (module scope); every refusal is checked to write nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.local.demo import DEMO_STAFF_PID, LEGEVAKT_HER_ID
from tests.conftest import KORONATEST_ANSWERS, Citizen, token_for
from tests.helpers import book_body, free_days, free_slots, timebook_body
from tests.http.conftest import TableWatch, deliver_inbox_messages, seeded_world

ROOT = Path(__file__).resolve().parents[2]
OTHER_HER_ID = "9999999"

# Every route of app.py and the test in this module that proves who may call it.
ROUTE_TESTS: dict[tuple[str, str], str] = {
    ("GET", "/health-contacts"): "test_public_discovery_needs_no_token",
    ("GET", "/health-contacts/{hc_id}/timebooks"): "test_public_discovery_needs_no_token",
    ("GET", "/timebooks/{timebook_id}"): "test_public_discovery_needs_no_token",
    ("GET", "/timebooks/{timebook_id}/calendar"): "test_public_discovery_needs_no_token",
    ("GET", "/timebooks/{timebook_id}/slots"): "test_public_discovery_needs_no_token",
    ("GET", "/openapi.json"): "test_public_openapi_needs_no_token",
    ("POST", "/holds"): "test_create_hold_access",
    ("DELETE", "/holds/{hold_id}"): "test_release_hold_access",
    ("POST", "/appointments"): "test_create_appointment_access",
    ("GET", "/appointments"): "test_list_appointments_access",
    ("GET", "/appointments/{appointment_id}"): "test_get_appointment_access",
    ("GET", "/appointments/{appointment_id}/ics"): "test_appointment_ics_access",
    ("GET", "/appointments/{appointment_id}/fhir"): "test_appointment_fhir_access",
    ("GET", "/fhir/$bulk-publish"): "test_public_feed_manifest_needs_no_token",
    ("GET", "/dev/helsenorge/appointments"): "test_dev_helsenorge_is_local_only",
    ("GET", "/dev/sms"): "test_dev_sms_is_local_only",
    ("POST", "/appointments/{appointment_id}/cancel"): "test_citizen_cancel_access",
    ("POST", "/appointments/{appointment_id}/reschedule"): "test_reschedule_access",
    ("GET", "/inbox"): "test_inbox_access",
    ("GET", "/me/data"): "test_my_data_access",
    ("POST", "/admin/health-contacts"): "test_admin_create_health_contact_access",
    ("POST", "/admin/timebooks"): "test_admin_create_timebook_access",
    ("POST", "/admin/timebooks/{timebook_id}/locations"): "test_admin_timebook_routes_access",
    ("POST", "/admin/timebooks/{timebook_id}/schedules"): "test_admin_timebook_routes_access",
    ("GET", "/admin/timebooks/{timebook_id}/overview"): "test_admin_timebook_routes_access",
    ("PATCH", "/admin/timebooks/{timebook_id}"): "test_admin_timebook_routes_access",
    ("POST", "/admin/timebooks/{timebook_id}/waves/{wave}/people"): "test_admin_timebook_routes_access",
    ("GET", "/admin/appointments"): "test_admin_list_appointments_access",
    ("POST", "/admin/appointments/{appointment_id}/confirm"): "test_admin_appointment_actions_access",
    ("POST", "/admin/appointments/{appointment_id}/reject"): "test_admin_appointment_actions_access",
    ("POST", "/admin/appointments/{appointment_id}/cancel"): "test_admin_appointment_actions_access",
    ("POST", "/waitlist"): "test_waitlist_access",
    ("GET", "/waitlist"): "test_waitlist_access",
    ("DELETE", "/waitlist/{entry_id}"): "test_waitlist_access",
    ("POST", "/timebooks/{timebook_id}/queue"): "test_queue_access",
    ("GET", "/queue/{ticket}"): "test_queue_access",
    ("PATCH", "/admin/slots/{slot_id}"): "test_admin_slot_closure_audit_access",
    ("POST", "/admin/timebooks/{timebook_id}/closures"): "test_admin_slot_closure_audit_access",
    ("POST", "/admin/timebooks/{timebook_id}/closures/preview"): "test_admin_slot_closure_audit_access",
    ("GET", "/admin/timebooks/{timebook_id}/audit"): "test_admin_slot_closure_audit_access",
    ("POST", "/admin/appointments/{appointment_id}/arrived"): "test_staff_day_access",
    ("POST", "/admin/appointments/{appointment_id}/noshow"): "test_staff_day_access",
    ("POST", "/admin/appointments/confirm"): "test_staff_day_access",
    ("GET", "/admin/requests"): "test_staff_day_access",
    ("GET", "/admin/timebooks/{timebook_id}/daylist"): "test_staff_day_access",
    ("GET", "/admin/closures/{closure_id}"): "test_staff_day_access",
    ("GET", "/admin/timebooks/{timebook_id}/waitlist"): "test_staff_day_access",
    ("GET", "/admin/figures"): "test_staff_figures_access",
    ("POST", "/dev/token"): "test_dev_token_is_local_only",
}


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The JSON error of API.md with this status (and code, if given)."""
    assert resp.status == status, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json
    assert isinstance(body, dict) and set(body) == {"error"}, resp
    assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str), resp
    if code is not None:
        assert body["error"]["code"] == code, resp
    return body["error"]


# ---- the shared world --------------------------------------------------------------------------


@dataclass
class World:
    client: Any
    demo: Any
    staff: str  # administers both demo HER-ids
    outsider: str  # staff of another municipality
    owner: Citizen  # has `appointment` (Koronatest, requested) and `hold_id`
    other: Citizen  # a stranger to all of it
    parent: Citizen  # represents `child`; booked `child_appointment` for them
    child: Citizen  # signs in themselves
    former_parent: str  # the parent's token once `represents` no longer lists the child
    appointment: dict[str, Any]
    child_appointment: dict[str, Any]
    hold_id: str
    free_slot: dict[str, Any]  # a free Koronatest slot of the same day as `appointment`
    waiter: Citizen  # waits (far in the future, so never offered) on the Koronatest waitlist
    entry_id: str

    watch: TableWatch


def _first_future_day(client: Any, timebook_id: str) -> str:
    today = clock.local(clock.now()).date().isoformat()
    return next(d["date"] for d in free_days(client, timebook_id) if d["date"] > today)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with seeded_world() as seeded:
        client, demo, staff = seeded.client, seeded.demo, seeded.staff_token
        outsider = token_for(Citizen(399).pid, "staff", "Annen Kommune", orgs=[OTHER_HER_ID])
        owner, other, child = Citizen(301), Citizen(302), Citizen(304)
        parent = Citizen(303, represents=[{"pid": child.pid, "name": "Barn Barnesen"}])
        former_parent = token_for(parent.pid, "citizen", parent.name)

        day = _first_future_day(client, demo.koronatest_id)
        slots = free_slots(client, demo.koronatest_id, day)
        assert len(slots) >= 4, slots
        # The hold first: at the timebook's limit (one active appointment) no hold is given.
        hold = client.post("/holds", {"slot_id": slots[2]["id"]}, token=owner.token)
        assert hold.status == 201, hold
        made = client.post(
            "/appointments", book_body(owner.phone, KORONATEST_ANSWERS, slot_id=slots[0]["id"]), token=owner.token
        )
        assert made.status == 201, made
        for_child = client.post(
            "/appointments",
            book_body(parent.phone, KORONATEST_ANSWERS, slot_id=slots[1]["id"], for_pid=child.pid),
            token=parent.token,
        )
        assert for_child.status == 201, for_child
        waiter = Citizen(305)
        far = {"timebook_id": demo.koronatest_id, "from": "2099-01-01T08:00:00+01:00"}
        entry = client.post("/waitlist", far, token=waiter.token)
        assert entry.status == 201 and entry.json["status"] == "waiting", entry
        deliver_inbox_messages()
        yield World(
            client=client,
            demo=demo,
            staff=staff,
            outsider=outsider,
            owner=owner,
            other=other,
            parent=parent,
            child=child,
            former_parent=former_parent,
            appointment=made.json,
            child_appointment=for_child.json,
            hold_id=hold.json["id"],
            free_slot=slots[3],
            waiter=waiter,
            entry_id=entry.json["id"],
            watch=seeded.watch,
        )


@pytest.fixture(autouse=True)
def _nothing_written(request: pytest.FixtureRequest) -> Iterator[None]:
    """Refused requests and reads write nothing."""
    if "world" not in request.fixturenames:
        yield
        return
    world: World = request.getfixturevalue("world")
    with world.watch.unchanged("a refused request or a read"):
        yield


# ---- the route list itself ---------------------------------------------------------------------


def test_every_route_has_an_access_test() -> None:
    from app import app

    # OPTIONS on every path is the CORS preflight: public, no data (tests/http/test_cors.py).
    routes = {(method, path) for path, methods in app.routes.items() for method in methods if method != "OPTIONS"}
    missing = sorted(routes - set(ROUTE_TESTS))
    assert not missing, f"routes without an access test (add them to ROUTE_TESTS): {missing}"
    local_only = {("POST", "/dev/token"), ("GET", "/dev/helsenorge/appointments"), ("GET", "/dev/sms")}
    stale = sorted(set(ROUTE_TESTS) - routes - local_only)
    assert not stale, f"ROUTE_TESTS names routes app.py does not have: {stale}"
    for name in set(ROUTE_TESTS.values()):
        assert callable(globals().get(name)), f"{name} is not a test in this module"


def test_security_doc_lists_every_route() -> None:
    """docs/security.md has a row per route naming the test that proves it."""
    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    for (method, path), name in ROUTE_TESTS.items():
        assert f"`{method} {path}`" in doc, f"{method} {path} missing from docs/security.md"
        assert f"test_access.py::{name}" in doc, f"{name} missing from docs/security.md"


# ---- public --------------------------------------------------------------------------------------


def test_public_discovery_needs_no_token(world: World) -> None:
    c, tb = world.client, world.demo.koronatest_id
    day = world.appointment["start"][:10]
    for path in (
        "/health-contacts",
        f"/health-contacts/{world.demo.smittevern_id}/timebooks",
        f"/timebooks/{tb}",
        f"/timebooks/{tb}/calendar?month={day[:7]}",
        f"/timebooks/{tb}/slots?date={day}",
    ):
        resp = c.get(path)
        assert resp.status == 200, (path, resp)
        assert resp.headers.get("cache-control", "").startswith("public"), (path, resp.headers)
        # A token changes nothing (and a bad one is not even looked at on a public route).
        assert c.get(path, token=world.owner.token).status == 200
        assert c.get(path, token="not-a-token").status == 200
    # Public answers carry no personal data of the people booked.
    calendar_and_slots = c.get(f"/timebooks/{tb}/slots?date={day}").text
    for secret in (world.owner.pid, world.child.pid, world.owner.name):
        assert secret not in calendar_and_slots


def test_public_openapi_needs_no_token(world: World) -> None:
    resp = world.client.get("/openapi.json")
    assert resp.status == 200, resp
    assert "paths" in resp.json


def test_dev_token_is_local_only(world: World) -> None:
    """Locally (DEV_TOKENS=enabled) it answers without a token; outside the local stage it is not routed."""
    body = {"sub": world.other.pid, "role": "citizen", "name": "Lokal Tester"}
    resp = world.client.post("/dev/token", body)
    assert resp.status == 200, resp
    assert world.client.get("/appointments", token=resp.json["token"]).status == 200
    env = {k: v for k, v in os.environ.items() if k != "DEV_TOKENS"}
    probe = "import app, sys; sys.exit(3 if '/dev/token' in app.app.routes else 0)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


# ---- citizen routes --------------------------------------------------------------------------


def test_create_hold_access(world: World) -> None:
    c, body = world.client, {"slot_id": world.free_slot["id"]}
    assert_error(c.post("/holds", body), 401, "unauthorized")
    assert_error(c.post("/holds", body, token=world.staff), 403)
    assert_error(c.post("/holds", {"timebook_id": world.demo.koronatest_id}, token=world.staff), 403)


def test_release_hold_access(world: World) -> None:
    c, path = world.client, f"/holds/{world.hold_id}"
    assert_error(c.delete(path), 401, "unauthorized")
    assert_error(c.delete(path, token=world.staff), 403)
    assert_error(c.delete(path, token=world.other.token), 404)
    assert_error(c.delete(path, token=world.parent.token), 404)
    # The owner's hold still blocks its place (checked again by _nothing_written).


def test_create_appointment_access(world: World) -> None:
    c = world.client
    from_hold = book_body(world.other.phone, KORONATEST_ANSWERS, hold_id=world.hold_id)
    assert_error(c.post("/appointments", from_hold), 401, "unauthorized")
    assert_error(c.post("/appointments", from_hold, token=world.staff), 403)
    # Someone else's hold: not found, and it is not consumed.
    assert_error(c.post("/appointments", from_hold, token=world.other.token), 404)
    # For a person one does not (or no longer) represent: refused before anything is written.
    for token, pid in ((world.other.token, world.child.pid), (world.former_parent, world.child.pid)):
        body = book_body(world.other.phone, KORONATEST_ANSWERS, slot_id=world.free_slot["id"], for_pid=pid)
        assert_error(c.post("/appointments", body, token=token), 403)


def test_list_appointments_access(world: World) -> None:
    c = world.client
    assert_error(c.get("/appointments"), 401, "unauthorized")
    assert_error(c.get("/appointments", token=world.staff), 403)

    def ids(token: str) -> set[str]:
        resp = c.get("/appointments", token=token)
        assert resp.status == 200, resp
        return {a["id"] for a in resp.json["items"]}

    mine, childs = world.appointment["id"], world.child_appointment["id"]
    assert ids(world.owner.token) == {mine}
    assert ids(world.other.token) == set()
    assert ids(world.parent.token) == {childs}
    assert ids(world.child.token) == {childs}
    assert ids(world.former_parent) == set()


def _appointment_reads(world: World, suffix: str) -> None:
    """GET /appointments/{id}{suffix}: who gets it and who is told it does not exist."""
    c = world.client
    own = f"/appointments/{world.appointment['id']}{suffix}"
    childs = f"/appointments/{world.child_appointment['id']}{suffix}"
    assert_error(c.get(own), 401, "unauthorized")
    assert_error(c.get(own, token=world.staff), 403)
    assert_error(c.get(own, token=world.outsider), 403)
    assert c.get(own, token=world.owner.token).status == 200
    for stranger in (world.other.token, world.parent.token, world.child.token):
        assert_error(c.get(own, token=stranger), 404, "appointment_not_found")
    assert c.get(childs, token=world.parent.token).status == 200
    assert c.get(childs, token=world.child.token).status == 200
    for stranger in (world.former_parent, world.owner.token, world.other.token):
        assert_error(c.get(childs, token=stranger), 404, "appointment_not_found")


def test_get_appointment_access(world: World) -> None:
    _appointment_reads(world, "")
    seen = world.client.get(f"/appointments/{world.child_appointment['id']}", token=world.child.token).json
    assert seen["for"]["name"] == "Barn Barnesen"


def test_appointment_ics_access(world: World) -> None:
    _appointment_reads(world, "/ics")


def _appointment_changes(world: World, action: str, body: dict[str, Any]) -> None:
    c = world.client
    own = f"/appointments/{world.appointment['id']}/{action}"
    childs = f"/appointments/{world.child_appointment['id']}/{action}"
    assert_error(c.post(own, body), 401, "unauthorized")
    assert_error(c.post(own, body, token=world.staff), 403)
    for stranger in (world.other.token, world.parent.token, world.child.token):
        assert_error(c.post(own, body, token=stranger), 404, "appointment_not_found")
    for stranger in (world.former_parent, world.owner.token, world.other.token):
        assert_error(c.post(childs, body, token=stranger), 404, "appointment_not_found")
    # Still as booked (and _nothing_written checks the table as a whole).
    still = c.get(f"/appointments/{world.appointment['id']}", token=world.owner.token).json
    assert (still["status"], still["slot_id"]) == (world.appointment["status"], world.appointment["slot_id"])


def test_appointment_fhir_access(world: World) -> None:
    _appointment_reads(world, "/fhir")


def test_public_feed_manifest_needs_no_token(world: World) -> None:
    for token in (None, world.owner.token, "not-a-token"):
        assert world.client.get("/fhir/$bulk-publish", token=token).status == 302


def test_dev_helsenorge_is_local_only(world: World) -> None:
    """Locally it answers without a token (503 here: no stand-in runs); outside the local stage it is not routed."""
    assert world.client.get("/dev/helsenorge/appointments").status in (200, 503)
    env = {k: v for k, v in os.environ.items() if k != "DEV_TOKENS"}
    probe = "import app, sys; sys.exit(3 if '/dev/helsenorge/appointments' in app.app.routes else 0)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_dev_sms_is_local_only(world: World) -> None:
    """Locally it answers without a token (what moto's SNS took); outside the local stage it is not routed."""
    from chalicelib.local.krr import captured
    from chalicelib.messaging.notify import set_sms_capture

    assert world.client.get("/dev/sms").status == 503  # no SMS stand-in runs: said, not an empty list
    set_sms_capture(captured)
    try:
        answer = world.client.get("/dev/sms")
    finally:
        set_sms_capture(None)
    assert answer.status == 200 and isinstance(answer.json["items"], list)
    env = {k: v for k, v in os.environ.items() if k != "DEV_TOKENS"}
    probe = "import app, sys; sys.exit(3 if '/dev/sms' in app.app.routes else 0)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_citizen_cancel_access(world: World) -> None:
    _appointment_changes(world, "cancel", {})


def test_reschedule_access(world: World) -> None:
    _appointment_changes(world, "reschedule", {"slot_id": world.free_slot["id"]})


def test_inbox_access(world: World) -> None:
    c = world.client
    assert_error(c.get("/inbox"), 401, "unauthorized")
    assert_error(c.get("/inbox", token=world.staff), 403)

    def about(token: str) -> set[str]:
        resp = c.get("/inbox", token=token)
        assert resp.status == 200, resp
        return {m["appointment_id"] for m in resp.json["items"]}

    mine, childs = world.appointment["id"], world.child_appointment["id"]
    assert about(world.owner.token) == {mine}
    assert about(world.other.token) == set()
    assert about(world.parent.token) == {childs}
    assert about(world.child.token) == {childs}
    assert about(world.former_parent) == set()


def test_my_data_access(world: World) -> None:
    """GET /me/data (issue 23): one's own and the represented people's, no one else's; no staff."""
    c = world.client
    assert_error(c.get("/me/data"), 401, "unauthorized")
    assert_error(c.get("/me/data", token=world.staff), 403)
    assert_error(c.get("/me/data", token=world.outsider), 403)

    def about(token: str) -> set[str]:
        resp = c.get("/me/data", token=token)
        assert resp.status == 200, resp
        data = resp.json
        return {a["id"] for a in data["appointments"]} | {m["appointment_id"] for m in data["inbox"]}

    mine, childs = world.appointment["id"], world.child_appointment["id"]
    assert about(world.owner.token) == {mine}
    assert about(world.other.token) == set()
    assert about(world.parent.token) == {childs}
    assert about(world.child.token) == {childs}
    assert about(world.former_parent) == set()
    waiting = c.get("/me/data", token=world.waiter.token).json["waitlist"]
    assert [e["id"] for e in waiting] == [world.entry_id]


def test_waitlist_access(world: World) -> None:
    c, body = world.client, {"timebook_id": world.demo.koronatest_id}
    assert_error(c.post("/waitlist", body), 401, "unauthorized")
    assert_error(c.post("/waitlist", body, token=world.staff), 403)
    # For a person one does not (or no longer) represent: refused before anything is written.
    for token in (world.other.token, world.former_parent):
        assert_error(c.post("/waitlist", {**body, "for_pid": world.child.pid}, token=token), 403)
    assert_error(c.get("/waitlist"), 401, "unauthorized")
    assert_error(c.get("/waitlist", token=world.staff), 403)
    for token in (world.owner.token, world.other.token, world.parent.token):
        listed = c.get("/waitlist", token=token)
        assert listed.status == 200 and listed.json["items"] == [], listed
    mine = c.get("/waitlist", token=world.waiter.token)
    assert [e["id"] for e in mine.json["items"]] == [world.entry_id]
    path = f"/waitlist/{world.entry_id}"
    assert_error(c.delete(path), 401, "unauthorized")
    assert_error(c.delete(path, token=world.staff), 403)
    for stranger in (world.other.token, world.owner.token, world.parent.token):
        assert_error(c.delete(path, token=stranger), 404, "waitlist_entry_not_found")


def test_queue_access(world: World) -> None:
    """The waiting room (issue 20): joining is a citizen's; a poll needs no token, only a ticket
    signed by the stage (a forged one is not found)."""
    c, path = world.client, f"/timebooks/{world.demo.koronatest_id}/queue"
    assert_error(c.post(path), 401, "unauthorized")
    assert_error(c.post(path, token=world.staff), 403)
    assert_error(c.post(path, token=world.owner.token), 409, "no_waiting_room")  # the demo's has no room
    assert_error(c.post("/timebooks/tbnope/queue", token=world.owner.token), 404)
    assert_error(c.get("/queue/e30.AAAA"), 404, "ticket_not_found")
    assert_error(c.get("/queue/e30.AAAA", token=world.owner.token), 404, "ticket_not_found")


# ---- staff routes --------------------------------------------------------------------------------


def test_admin_create_health_contact_access(world: World) -> None:
    c = world.client
    body = {"organisation": "Annen Kommune", "service": "Smittevern", "her_id": "8100077"}
    assert_error(c.post("/admin/health-contacts", body), 401, "unauthorized")
    assert_error(c.post("/admin/health-contacts", body, token=world.owner.token), 403)
    # Staff, but not of this HER-id.
    assert_error(c.post("/admin/health-contacts", body, token=world.staff), 403)
    assert_error(c.post("/admin/health-contacts", body, token=world.outsider), 403)
    # A citizen token that claims orgs is still a citizen.
    sneaky = token_for(world.owner.pid, "citizen", orgs=["8100077"])
    assert_error(c.post("/admin/health-contacts", body, token=sneaky), 403)


def test_admin_create_timebook_access(world: World) -> None:
    c, body = world.client, timebook_body(world.demo.smittevern_id)
    assert_error(c.post("/admin/timebooks", body), 401, "unauthorized")
    assert_error(c.post("/admin/timebooks", body, token=world.owner.token), 403)
    assert_error(c.post("/admin/timebooks", body, token=world.outsider), 404)


def test_admin_timebook_routes_access(world: World) -> None:
    c, tb = world.client, world.demo.koronatest_id
    day = world.appointment["start"][:10]
    schedule = {
        "location_id": world.demo.teststasjon_id,
        "from": "2030-01-07",
        "to": "2030-01-08",
        "weekdays": [1, 2],
        "start_time": "08:00",
        "end_time": "09:00",
        "slot_minutes": 15,
        "capacity": 1,
    }
    calls = [
        ("POST", f"/admin/timebooks/{tb}/locations", {"name": "Stasjon B", "address": "Gaten 2"}),
        ("POST", f"/admin/timebooks/{tb}/schedules", schedule),
        ("GET", f"/admin/timebooks/{tb}/overview?date={day}", None),
        ("PATCH", f"/admin/timebooks/{tb}", {"version": 0, "hold_minutes": 5}),
        ("POST", f"/admin/timebooks/{tb}/waves/0/people", {"pids": [world.owner.pid]}),
    ]
    for method, path, body in calls:
        assert_error(c.request(method, path, json_body=body), 401, "unauthorized")
        assert_error(c.request(method, path, json_body=body, token=world.owner.token), 403)
        assert_error(c.request(method, path, json_body=body, token=world.parent.token), 403)
        assert_error(c.request(method, path, json_body=body, token=world.outsider), 404)
    overview = c.get(f"/admin/timebooks/{tb}/overview?date={day}", token=world.staff)
    assert overview.status == 200, overview  # the owning municipality does see it


def test_admin_list_appointments_access(world: World) -> None:
    c = world.client
    path = f"/admin/appointments?timebook_id={world.demo.koronatest_id}"
    assert_error(c.get(path), 401, "unauthorized")
    assert_error(c.get(path, token=world.owner.token), 403)
    assert_error(c.get(path, token=world.outsider), 404)
    listed = c.get(path, token=world.staff)
    assert listed.status == 200, listed
    assert {a["id"] for a in listed.json["items"]} == {world.appointment["id"], world.child_appointment["id"]}


def test_admin_appointment_actions_access(world: World) -> None:
    c = world.client
    for action in ("confirm", "reject", "cancel"):
        path = f"/admin/appointments/{world.appointment['id']}/{action}"
        body = {"reason": "Stasjonen stenger"} if action != "confirm" else {}
        assert_error(c.post(path, body), 401, "unauthorized")
        for citizen in (world.owner.token, world.other.token, world.parent.token):
            assert_error(c.post(path, body, token=citizen), 403)
        assert_error(c.post(path, body, token=world.outsider), 404)
        # Staff of Legevakt only (not Smittevern, which owns the Koronatest): also 404.
        legevakt_only = token_for(DEMO_STAFF_PID, "staff", "Lege Vakt", orgs=[LEGEVAKT_HER_ID])
        assert_error(c.post(path, body, token=legevakt_only), 404)
    still = c.get(f"/appointments/{world.appointment['id']}", token=world.owner.token).json
    assert still["status"] == world.appointment["status"]


def test_admin_slot_closure_audit_access(world: World) -> None:
    c, tb = world.client, world.demo.koronatest_id
    closure = {"from": "2099-01-01T08:00:00+01:00", "to": "2099-01-02T08:00:00+01:00", "reason": "Stengt"}
    calls = [
        ("PATCH", f"/admin/slots/{world.free_slot['id']}", {"closed": True}),
        ("POST", f"/admin/timebooks/{tb}/closures", closure),
        ("POST", f"/admin/timebooks/{tb}/closures/preview", closure),
        ("GET", f"/admin/timebooks/{tb}/audit", None),
    ]
    legevakt_only = token_for(DEMO_STAFF_PID, "staff", "Lege Vakt", orgs=[LEGEVAKT_HER_ID])
    for method, path, body in calls:
        assert_error(c.request(method, path, json_body=body), 401, "unauthorized")
        for citizen in (world.owner.token, world.parent.token):
            assert_error(c.request(method, path, json_body=body, token=citizen), 403)
        assert_error(c.request(method, path, json_body=body, token=world.outsider), 404)
        assert_error(c.request(method, path, json_body=body, token=legevakt_only), 404)
    audit = c.get(f"/admin/timebooks/{tb}/audit", token=world.staff)
    assert audit.status == 200, audit  # the owning municipality does see it
    assert world.free_slot["free"] == next(
        s["free"] for s in free_slots(c, tb, world.free_slot["start"][:10]) if s["id"] == world.free_slot["id"]
    )


def test_staff_day_access(world: World) -> None:
    """Issue 21's staff calls: the owning municipality's staff only; to others nothing exists."""
    c, tb, ap = world.client, world.demo.koronatest_id, world.appointment["id"]
    legevakt_only = token_for(DEMO_STAFF_PID, "staff", "Lege Vakt", orgs=[LEGEVAKT_HER_ID])
    calls = [
        ("POST", f"/admin/appointments/{ap}/arrived", {}),
        ("POST", f"/admin/appointments/{ap}/noshow", {}),
        ("GET", f"/admin/timebooks/{tb}/daylist?date={world.appointment['start'][:10]}", None),
        ("GET", f"/admin/closures/{tb}_{'0' * 20}", None),
        ("GET", f"/admin/timebooks/{tb}/waitlist", None),
    ]
    for method, path, body in calls:
        assert_error(c.request(method, path, json_body=body), 401, "unauthorized")
        for citizen in (world.owner.token, world.parent.token):
            assert_error(c.request(method, path, json_body=body, token=citizen), 403)
        assert_error(c.request(method, path, json_body=body, token=world.outsider), 404)
        assert_error(c.request(method, path, json_body=body, token=legevakt_only), 404)
    # Lists and bulk answers: nothing of another municipality's, and nothing done to it.
    assert_error(c.post("/admin/appointments/confirm", {"ids": [ap]}), 401, "unauthorized")
    assert_error(c.get("/admin/requests"), 401, "unauthorized")
    assert_error(c.post("/admin/appointments/confirm", {"ids": [ap]}, token=world.owner.token), 403)
    assert_error(c.get("/admin/requests", token=world.owner.token), 403)
    for staff in (world.outsider, legevakt_only):
        bulk = c.post("/admin/appointments/confirm", {"ids": [ap]}, token=staff)
        assert bulk.status == 200 and bulk.json["results"][0]["error"]["code"] == "appointment_not_found"
        mine = c.get("/admin/requests", token=staff)
        assert mine.status == 200 and ap not in {a["id"] for a in mine.json["items"]}


def test_staff_figures_access(world: World) -> None:
    """This process's business figures: staff only (counts, never a person's data)."""
    c = world.client
    assert_error(c.get("/admin/figures"), 401, "unauthorized")
    assert_error(c.get("/admin/figures", token=world.owner.token), 403, "staff_only")
    answer = c.get("/admin/figures", token=world.outsider)
    assert answer.status == 200 and answer.json["scope"] == "process", answer


# ---- not revealing existence ----------------------------------------------------------------


def test_citizen_404_is_the_same_for_unknown_and_not_yours(world: World) -> None:
    c = world.client
    unknown = c.get("/appointments/ap000000000000", token=world.other.token)
    not_yours = c.get(f"/appointments/{world.appointment['id']}", token=world.other.token)
    assert (unknown.status, unknown.json) == (not_yours.status, not_yours.json)
    unknown_hold = c.delete(f"/holds/h0_0123456789_{world.free_slot['id']}", token=world.other.token)
    not_your_hold = c.delete(f"/holds/{world.hold_id}", token=world.other.token)
    assert (unknown_hold.status, unknown_hold.json) == (not_your_hold.status, not_your_hold.json)


def test_staff_404_is_the_same_for_unknown_and_not_yours(world: World) -> None:
    c = world.client
    for action, body in (("confirm", {}), ("reject", {"reason": "x"}), ("cancel", {"reason": "x"})):
        unknown = c.post(f"/admin/appointments/ap000000000000/{action}", body, token=world.outsider)
        not_yours = c.post(f"/admin/appointments/{world.appointment['id']}/{action}", body, token=world.outsider)
        assert (unknown.status, unknown.json) == (not_yours.status, not_yours.json), action
