"""Inputs the fuzzing and probing found that once gave a 5xx; each now answers a 4xx JSON error."""

from __future__ import annotations

import pytest

from tests.helpers import first_free_slot


def _is_client_error(response, status=400):
    assert response.status == status, response
    assert set(response.json["error"]) >= {"code", "message"}


@pytest.mark.parametrize("month", ["0000-01", "9999-12", "1999-12"])
def test_calendar_month_out_of_range(client, demo, month):
    _is_client_error(client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={month}"))


def test_slots_date_out_of_range(client, demo):
    _is_client_error(client.get(f"/timebooks/{demo.koronatest_id}/slots?date=0001-01-01"))


def _schedule(demo, **changes):
    return {
        "location_id": demo.teststasjon_id,
        "from": "2030-01-07",
        "to": "2030-01-07",
        "weekdays": [1],
        "start_time": "08:00",
        "end_time": "09:00",
        "slot_minutes": 15,
        "capacity": 1,
        **changes,
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"from": "9999-12-30", "to": "9999-12-31", "start_time": "23:00", "end_time": "23:59", "slot_minutes": 5},
        {"start_time": "01:00:00+05:00", "end_time": "03:00"},
        {
            "from": "2030-01-01",
            "to": "2030-12-31",
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "slot_minutes": 5,
            "start_time": "00:00",
            "end_time": "23:55",
        },
    ],
)
def test_schedules_that_once_broke(client, demo, staff_token, changes):
    response = client.post(
        f"/admin/timebooks/{demo.koronatest_id}/schedules", _schedule(demo, **changes), token=staff_token
    )
    _is_client_error(response)
    assert response.json["error"]["fields"]


def test_long_idempotency_key(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    response = client.post(
        "/holds", {"slot_id": slot["id"]}, token=citizen.token, headers={"Idempotency-Key": "k" * 3000}
    )
    _is_client_error(response)
    again = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers={"Idempotency-Key": "k" * 200})
    assert again.status == 201


def test_deeply_nested_json(client, citizen):
    body = b'{"slot_id": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    _is_client_error(client.request("POST", "/holds", raw=body, token=citizen.token))


def test_idempotent_hold_answers_the_same_hold(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    headers = {"Idempotency-Key": "hold-1"}
    first = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers=headers)
    second = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers=headers)
    assert first.status == 201 and second.status == 200
    assert second.json == first.json
    other = client.post("/holds", {"timebook_id": demo.koronatest_id}, token=citizen.token, headers=headers)
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_key_reused"


def test_idempotency_key_is_free_again_after_a_day(client, demo, citizen):
    from datetime import timedelta

    from chalicelib import clock

    slot = first_free_slot(client, demo.koronatest_id)
    headers = {"Idempotency-Key": "daily"}
    first = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers=headers)
    assert first.status == 201
    clock.advance(timedelta(hours=24, seconds=1))  # the record is past its TTL but not yet deleted
    second = client.post("/holds", {"timebook_id": demo.koronatest_id}, token=citizen.token, headers=headers)
    assert second.status == 201, second
    assert second.json["id"] != first.json["id"]
