"""The line learns that every place is taken (issue 20): the admission step looks at the published
availability once a step, and a poll (no table read) says `sold_out` while `state` keeps its
values; a place that comes free again (a hold that lapsed) clears it at the next step."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import clock
from chalicelib.booking import queue
from tests.booking.test_queue import hold, join, make_timebook
from tests.conftest import Citizen


def test_the_line_is_told_when_every_place_is_taken_and_when_one_comes_free(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 1})
    for slot in slots[1:]:
        closed = client.request("PATCH", f"/admin/slots/{slot}", json_body={"closed": True}, token=staff_token)
        assert closed.status == 200, closed
    one = client.request("PATCH", f"/admin/slots/{slots[0]}", json_body={"capacity": 1}, token=staff_token)
    assert one.status == 200, one
    buyer, waiter = Citizen(401), Citizen(402)
    ticket = join(client, tb, buyer).json["ticket"]
    waiting = join(client, tb, waiter).json
    assert waiting["sold_out"] is False
    clock.advance(timedelta(seconds=60))
    queue.admit()
    assert client.get(f"/queue/{waiting['ticket']}").json["sold_out"] is False
    clock.advance(timedelta(seconds=30))  # the one owed is admitted in a turn, at twice the rate
    assert hold(client, slots[0], buyer, ticket).status == 201  # the last place
    clock.advance(timedelta(seconds=1))
    queue.admit()
    polled = client.get(f"/queue/{waiting['ticket']}").json
    assert (polled["sold_out"], polled["state"]) == (True, "waiting")
    assert client.get(f"/queue/{ticket}").json["sold_out"] is True  # the admitted are told too
    clock.advance(timedelta(minutes=11))  # the hold lapsed unbooked: its place is free again
    queue.admit()
    assert client.get(f"/queue/{waiting['ticket']}").json["sold_out"] is False


def test_a_citizen_who_can_go_to_one_location_is_told_of_that_location(client, demo, staff_token, dynamodb_calls):
    tb, _ = make_timebook(client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 1})
    hall = client.get(f"/timebooks/{tb}").json["locations"][0]["id"]
    empty = client.post(f"/admin/timebooks/{tb}/locations", {"name": "Annex", "address": "Gata 9"}, token=staff_token)
    annex = empty.json["id"]  # no times at all: nothing free there
    waiting = client.post(f"/timebooks/{tb}/queue?location={annex}", token=Citizen(411).token)
    assert waiting.status == 201, waiting
    ticket = waiting.json["ticket"]
    clock.advance(timedelta(seconds=60))
    queue.admit()
    client.get(f"/queue/{ticket}")  # the timebook and the room in this process's caches
    dynamodb_calls.clear()
    answers = {where: client.get(f"/queue/{ticket}{where}").json["sold_out"] for where in ("", f"?location={hall}")}
    assert answers == {"": False, f"?location={hall}": False}
    assert client.get(f"/queue/{ticket}?location={annex}").json["sold_out"] is True
    assert sum(dynamodb_calls.values()) == 0  # a poll reads no table, with a location or without
    again = client.post(f"/timebooks/{tb}/queue?location={annex}", token=Citizen(411).token)
    assert (again.status, again.json["ticket"], again.json["sold_out"]) == (200, ticket, True)
    for wrong in (
        client.get(f"/queue/{ticket}?location=locnope"),
        client.post(f"/timebooks/{tb}/queue?location=x", token=Citizen(412).token),
    ):
        assert (wrong.status, wrong.json["error"]["code"]) == (404, "location_not_found"), wrong
