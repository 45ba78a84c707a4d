"""DynamoDB refusing (after botocore's own retries) is a 429 or 503 with Retry-After, never a 500.

DESIGN.md decision 4 and API.md: throttling is answered 429 with `Retry-After`; any other AWS
fault 503 with `Retry-After`; both with the JSON error and never a stack trace or the AWS error
text (which can quote key values, i.e. identity numbers). Nothing is half-written: the table is
byte-for-byte as before the failed request, and a retry afterwards succeeds.

Two ways in:
- the use cases' storage calls (`chalicelib.storage.repository.get_slot`, `query_slots`, `book`,
  ...) raise the PynamoDB exceptions they raise in AWS, built on a botocore `ClientError`;
- lower down, the botocore DynamoDB client raises `ClientError` for one operation (what it does
  once its retries are spent), so PynamoDB and the repository wrap it exactly as they would in
  AWS, cancellation reasons of a cancelled transaction included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.exceptions import GetError, PynamoDBException, QueryError, TransactWriteError

from chalicelib import clock, settings
from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.helpers import book_body, free_days, free_slots
from tests.http.conftest import TableWatch, seeded_world

# What AWS error texts may contain; none of it may reach the client.
AWS_DETAIL = "pk=PERSON#24085038849 secret-aws-detail-4711"
LEAKS = ("Traceback", 'File "', "botocore", "pynamodb", "ClientError", "Error getting", AWS_DETAIL, "24085038849")

THROTTLING = ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
FAULTS = ["InternalServerError", "ServiceUnavailable"]


def client_error(code: str, operation: str = "GetItem", reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": AWS_DETAIL}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r, "Message": AWS_DETAIL} for r in reasons]
    return ClientError(response, operation)  # type: ignore[arg-type]


def pynamodb_error(cls: type[PynamoDBException], code: str, operation: str = "GetItem") -> PynamoDBException:
    return cls(f"Failed: {AWS_DETAIL}", client_error(code, operation))


# ---- the shared world --------------------------------------------------------------------------


@dataclass
class World:
    client: Any
    demo: Any
    staff: str
    citizen: Citizen
    appointment: dict[str, Any]
    slots: list[dict[str, Any]]  # free Koronatest slots of one day after today
    watch: TableWatch

    def unchanged(self) -> contextlib.AbstractContextManager[None]:
        return self.watch.unchanged()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with seeded_world() as seeded:
        client, demo, staff = seeded.client, seeded.demo, seeded.staff_token
        today = clock.local(clock.now()).date().isoformat()
        day = next(d["date"] for d in free_days(client, demo.koronatest_id) if d["date"] > today)
        slots = free_slots(client, demo.koronatest_id, day)
        citizen = Citizen(701)
        made = client.post(
            "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slots[0]["id"]), token=citizen.token
        )
        assert made.status == 201, made
        yield World(client, demo, staff, citizen, made.json, slots[1:], seeded.watch)


@pytest.fixture
def dynamodb_fails(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make the botocore DynamoDB client raise for one operation, as it does once retries are spent."""
    from botocore.client import BaseClient

    real = BaseClient._make_api_call

    def arm(operation: str, error: Exception) -> None:
        def failing(self: Any, operation_name: str, params: dict[str, Any]) -> Any:
            if self.meta.service_model.service_name == "dynamodb" and operation_name == operation:
                raise error
            return real(self, operation_name, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", failing)

    return arm


def assert_aws_refusal(resp: Any, status: int) -> None:
    """429 throttled / 503 unavailable: Retry-After, the JSON error, and nothing of the AWS error."""
    assert resp.status == status, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    retry_after = resp.headers.get("retry-after", "")
    assert retry_after.isdigit() and int(retry_after) >= 1, resp.headers
    assert "public" not in resp.headers.get("cache-control", ""), "a CDN must not keep an error"
    code = {429: "throttled", 503: "service_unavailable"}[status]
    assert resp.json["error"]["code"] == code, resp
    assert set(resp.json) == {"error"} and set(resp.json["error"]) == {"code", "message"}, resp
    for leak in LEAKS:
        assert leak not in resp.text, (leak, resp)


def _status_of(code: str) -> int:
    return 429 if code in THROTTLING else 503


# ---- repository calls raising what PynamoDB raises in AWS -------------------------------------


@pytest.mark.parametrize("code", THROTTLING + FAULTS)
def test_slots_of_a_day(world: World, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    def query_summaries(*args: Any, **kwargs: Any) -> Any:
        raise pynamodb_error(QueryError, code, "Query")

    monkeypatch.setattr("chalicelib.storage.repository.query_summaries", query_summaries)
    day = world.slots[0]["start"][:10]
    with world.unchanged():
        assert_aws_refusal(
            world.client.get(f"/timebooks/{world.demo.koronatest_id}/slots?date={day}"), _status_of(code)
        )


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "InternalServerError"])
def test_calendar_fails_on_a_later_page(world: World, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """A query is lazy: the error can come after the first page, with half an answer built."""
    from chalicelib.storage import repository

    real = repository.query_summaries

    def query_summaries(*args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from list(real(*args, **kwargs))[:3]
        raise pynamodb_error(QueryError, code, "Query")

    monkeypatch.setattr("chalicelib.storage.repository.query_summaries", query_summaries)
    month = world.slots[0]["start"][:7]
    resp = world.client.get(f"/timebooks/{world.demo.koronatest_id}/calendar?month={month}")
    assert_aws_refusal(resp, _status_of(code))


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerError"])
def test_hold(world: World, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    def get_slot(*args: Any, **kwargs: Any) -> Any:
        raise pynamodb_error(GetError, code)

    monkeypatch.setattr("chalicelib.storage.repository.get_slot", get_slot)
    monkeypatch.setattr("chalicelib.storage.repository.read_slot_and_person", get_slot)
    monkeypatch.setattr("chalicelib.storage.repository.read_hold_state", get_slot)
    with world.unchanged():
        resp = world.client.post("/holds", {"slot_id": world.slots[0]["id"]}, token=Citizen(702).token)
        assert_aws_refusal(resp, _status_of(code))


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "InternalServerError"])
def test_booking_from_a_hold_is_not_half_written(world: World, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """The booking transaction fails: no appointment, the hold still there, and a retry books."""
    from chalicelib.storage import repository

    citizen = Citizen(703 if code.startswith("Prov") else 704)
    hold = world.client.post("/holds", {"slot_id": world.slots[1]["id"]}, token=citizen.token)
    assert hold.status == 201, hold
    body = book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=hold.json["id"])

    def book(*args: Any, **kwargs: Any) -> None:
        raise pynamodb_error(TransactWriteError, code, "TransactWriteItems")

    with monkeypatch.context() as patch, world.unchanged():
        patch.setattr(repository, "book", book)
        assert_aws_refusal(world.client.post("/appointments", body, token=citizen.token), _status_of(code))
    assert world.client.get("/appointments", token=citizen.token).json["items"] == []
    retried = world.client.post("/appointments", body, token=citizen.token)
    assert retried.status == 201, retried


# ---- the botocore client failing, wrapped by PynamoDB and the repository as in AWS ------------


@pytest.mark.parametrize(
    "reasons",
    [
        pytest.param(["ThrottlingError", "None", "None"], id="slot-throttled"),
        pytest.param(["None", "ProvisionedThroughputExceeded", "None"], id="appointment-over-capacity"),
        pytest.param(["None", "None", "ThrottlingError"], id="third-part-throttled"),
    ],
)
def test_booking_transaction_cancelled_by_throttling(
    world: World, dynamodb_fails: Callable[..., None], reasons: list[str]
) -> None:
    """TransactionCanceledException whose reasons are throttling is a 429, not a lost race or a 409."""
    citizen = Citizen(710)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=world.slots[2]["id"])
    dynamodb_fails("TransactWriteItems", client_error("TransactionCanceledException", "TransactWriteItems", reasons))
    with world.unchanged():
        assert_aws_refusal(world.client.post("/appointments", body, token=citizen.token), 429)


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerError"])
def test_booking_transaction_refused(world: World, dynamodb_fails: Callable[..., None], code: str) -> None:
    citizen = Citizen(720)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=world.slots[2]["id"])
    dynamodb_fails("TransactWriteItems", client_error(code, "TransactWriteItems"))
    with world.unchanged():
        assert_aws_refusal(world.client.post("/appointments", body, token=citizen.token), _status_of(code))


@pytest.mark.parametrize("action", ["cancel", "reschedule", "confirm"])
def test_appointment_change_throttled(world: World, dynamodb_fails: Callable[..., None], action: str) -> None:
    """The transition's transaction is throttled: the appointment and both slots are as before."""
    appointment_id = world.appointment["id"]
    dynamodb_fails("TransactWriteItems", client_error("ProvisionedThroughputExceededException", "TransactWriteItems"))
    if action == "confirm":
        path, body, token = f"/admin/appointments/{appointment_id}/confirm", {}, world.staff
    elif action == "cancel":
        path, body, token = f"/appointments/{appointment_id}/cancel", {}, world.citizen.token
    else:
        path, body, token = (
            f"/appointments/{appointment_id}/reschedule",
            {"slot_id": world.slots[3]["id"]},
            world.citizen.token,
        )
    with world.unchanged():
        assert_aws_refusal(world.client.post(path, body, token=token), 429)
    still = world.client.get(f"/appointments/{appointment_id}", token=world.citizen.token).json
    assert (still["status"], still["slot_id"]) == (world.appointment["status"], world.appointment["slot_id"])


@pytest.mark.parametrize(
    ("operation", "code", "method", "path"),
    [
        pytest.param("Query", "ThrottlingException", "GET", "/health-contacts", id="discovery-throttled"),
        pytest.param("GetItem", "InternalServerError", "GET", "/timebooks/{tb}", id="timebook-fault"),
        pytest.param("Query", "RequestLimitExceeded", "GET", "/appointments", id="list-throttled"),
        pytest.param("GetItem", "ServiceUnavailable", "GET", "/appointments/{ap}", id="detail-fault"),
        pytest.param("Query", "ProvisionedThroughputExceededException", "GET", "/inbox", id="inbox-throttled"),
        pytest.param("GetItem", "ThrottlingException", "POST", "/holds", id="hold-throttled"),
        pytest.param("TransactWriteItems", "ProvisionedThroughputExceededException", "POST", "/holds", id="hold-write"),
        pytest.param("BatchGetItem", "ThrottlingException", "POST", "/holds", id="hold-read-throttled"),
        pytest.param(
            "Query", "ThrottlingException", "GET", "/admin/appointments?timebook_id={tb}", id="staff-list-throttled"
        ),
    ],
)
def test_route_answers_aws_errors(
    world: World, dynamodb_fails: Callable[..., None], operation: str, code: str, method: str, path: str
) -> None:

    settings.reset()  # the timebook cache would hide a failing GetItem
    path = path.format(tb=world.demo.koronatest_id, ap=world.appointment["id"])
    token = world.staff if path.startswith("/admin") else world.citizen.token
    if path == "/holds":
        token = Citizen(790).token  # world.citizen is at the timebook's limit: no hold, no write
    body = {"slot_id": world.slots[3]["id"]} if method == "POST" else None
    dynamodb_fails(operation, client_error(code, operation))
    with world.unchanged():
        assert_aws_refusal(world.client.request(method, path, json_body=body, token=token), _status_of(code))


def test_no_connection_to_dynamodb_is_503(world: World, dynamodb_fails: Callable[..., None]) -> None:
    """A BotoCoreError (no ClientError at all, e.g. the endpoint unreachable) is a 503 too."""
    dynamodb_fails("GetItem", EndpointConnectionError(endpoint_url="https://dynamodb.eu-north-1.amazonaws.com"))
    with world.unchanged():
        resp = world.client.get(f"/appointments/{world.appointment['id']}", token=world.citizen.token)
        assert_aws_refusal(resp, 503)


# ---- load is 429, not 503: timeouts and the request's own time budget ----------------------------


def test_a_timeout_talking_to_dynamodb_is_429(world: World, dynamodb_fails: Callable[..., None]) -> None:
    """A read timeout is what load looks like from the client side: retry later, not "down" (a hold
    reads its slot and person item in one BatchGetItem)."""
    from botocore.exceptions import ReadTimeoutError

    dynamodb_fails("BatchGetItem", ReadTimeoutError(endpoint_url="https://dynamodb.eu-north-1.amazonaws.com"))
    with world.unchanged():
        resp = world.client.post("/holds", {"slot_id": world.slots[0]["id"]}, token=Citizen(705).token)
        assert_aws_refusal(resp, 429)


def test_a_spent_time_budget_is_429(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget a request stops starting new DynamoDB work and answers 429 + Retry-After."""
    monkeypatch.setenv("REQUEST_BUDGET_SECONDS", "-1")
    day = world.slots[0]["start"][:10]
    resp = world.client.get(f"/timebooks/{world.demo.koronatest_id}/slots?date={day}")
    assert_aws_refusal(resp, 429)
    with world.unchanged():
        resp = world.client.post("/holds", {"timebook_id": world.demo.koronatest_id}, token=Citizen(706).token)
        assert_aws_refusal(resp, 429)
