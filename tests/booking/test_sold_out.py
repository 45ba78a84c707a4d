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
