"""The waitlist: first come, first offered; an offer is a hold that lapses to the next in line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import clock
from chalicelib.booking import housekeeping
from tests.booking.waitlist_world import Small, small_world
from tests.conftest import Citizen


@pytest.fixture
def small(client, demo, staff_token, aws) -> Small:
    return small_world(client, demo, staff_token, aws["queue_url"])


def test_three_waiting_one_freed_place(small: Small) -> None:
    """#1 is offered the freed place and lets it lapse, #2 is offered it and books, #3 is untouched."""
    holder, first, second, third = Citizen(11), Citizen(12), Citizen(13), Citizen(14)
    slot = small.slot_ids[0]
    booked = small.book(holder, slot_id=slot)
    for citizen in (first, second, third):
        assert small.join(citizen)["status"] == "waiting"
    assert small.free(slot) == 0

    cancelled = small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token)
    assert cancelled.status == 200, cancelled
    offered = small.entry(first)
    assert offered["status"] == "offered", offered
    offer = offered["offer"]
    assert offer["slot_id"] == slot and set(offer) == {"hold_id", "slot_id", "start", "end", "expires_at"}
    assert [small.entry(c)["status"] for c in (second, third)] == ["waiting", "waiting"]
    assert "offer" in small.inbox_kinds(first)
    # The offer holds the place: nobody else can take it meanwhile.
    assert small.free(slot) == 0
    taken = small.client.post("/holds", {"slot_id": slot}, token=Citizen(15).token)
    assert taken.status == 409, taken

    # 30 minutes later the offer has lapsed; within a minute the sweep offers it to #2.
    clock.advance(timedelta(minutes=31))
    assert small.entry(first)["status"] == "expired" and small.entry(first)["offer"] is None
    housekeeping.release_expired_holds()
    assert small.entry(first)["status"] == "expired"
    second_offer = small.entry(second)
    assert second_offer["status"] == "offered", second_offer
    late = small.client.post(
        "/appointments",
        {"hold_id": offer["hold_id"], "answers": {"q1": "ja"}, "phone": first.phone},
        token=first.token,
    )
    assert late.status in (404, 409, 410), late  # #1's lapsed offer cannot be booked any more

    made = small.book(second, hold_id=second_offer["offer"]["hold_id"])
    assert made["slot_id"] == slot and made["status"] == "booked"
    assert small.entry(second)["status"] == "booked"
    assert small.entry(third)["status"] == "waiting" and small.entry(third)["offer"] is None
    assert "offer" not in small.inbox_kinds(third)
    housekeeping.release_expired_holds()
    assert small.entry(third)["status"] == "waiting"


def test_a_declined_offer_goes_to_the_next(small: Small) -> None:
    holder, first, second = Citizen(21), Citizen(22), Citizen(23)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    small.join(first)
    small.join(second)
    small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token)
    entry = small.entry(first)
    assert entry["status"] == "offered"
    declined = small.client.delete(f"/waitlist/{entry['id']}", token=first.token)
    assert declined.status == 204, declined
    assert small.entry(first)["status"] == "withdrawn"
    assert small.entry(second)["status"] == "offered"
    assert small.client.delete(f"/waitlist/{entry['id']}", token=first.token).status == 204  # again: no change


def test_one_live_entry_per_person_and_timebook(small: Small) -> None:
    citizen = Citizen(31)
    entry = small.join(citizen)
    again = small.client.post("/waitlist", {"timebook_id": small.timebook_id}, token=citizen.token)
    assert again.status == 409 and again.json["error"]["code"] == "already_waiting"
    assert small.client.delete(f"/waitlist/{entry['id']}", token=citizen.token).status == 204
    assert small.join(citizen)["status"] in ("waiting", "offered")


def test_a_lapsed_offer_lets_the_person_join_again_before_any_sweep(small: Small) -> None:
    holder, citizen = Citizen(41), Citizen(42)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    small.join(citizen)
    small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token)
    assert small.entry(citizen)["status"] == "offered"
    clock.advance(timedelta(minutes=31))
    rejoined = small.client.post("/waitlist", {"timebook_id": small.timebook_id}, token=citizen.token)
    assert rejoined.status == 201, rejoined
    statuses = sorted(e["status"] for e in small.entries(citizen))
    assert statuses in (["expired", "offered"], ["expired", "waiting"]), statuses


def test_joining_when_a_place_is_free_offers_it_at_once(small: Small) -> None:
    citizen = Citizen(51)
    entry = small.join(citizen)
    assert entry["status"] == "offered" and entry["offer"]["slot_id"] == small.slot_ids[0]
    assert small.free(small.slot_ids[0]) == 0


def test_window_and_location_decide_what_is_offered(small: Small) -> None:
    holder, later, fits = Citizen(61), Citizen(63), Citizen(64)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    start = booked["start"]
    small.join(later, **{"from": booked["end"]})
    small.join(fits, **{"from": start, "to": booked["end"]})
    small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token)
    assert small.entry(later)["status"] == "waiting"
    assert small.entry(fits)["status"] == "offered"


def test_bad_waitlist_requests(small: Small) -> None:
    c, citizen, stranger = small.client, Citizen(71), Citizen(72)
    unknown_location = c.post(
        "/waitlist", {"timebook_id": small.timebook_id, "location_id": "locnope"}, token=citizen.token
    )
    assert unknown_location.status == 404
    backwards = c.post(
        "/waitlist",
        {"timebook_id": small.timebook_id, "from": "2030-01-02T08:00:00+01:00", "to": "2030-01-01T08:00:00+01:00"},
        token=citizen.token,
    )
    assert backwards.status == 400 and backwards.json["error"]["fields"][0]["field"] == "to"
    naive = c.post("/waitlist", {"timebook_id": small.timebook_id, "from": "2030-01-02T08:00:00"}, token=citizen.token)
    assert naive.status == 400
    past = {"timebook_id": small.timebook_id, "to": "2001-01-01T08:00:00+01:00"}
    passed = c.post("/waitlist", past, token=citizen.token)
    assert passed.status == 400
    for_someone = c.post("/waitlist", {"timebook_id": small.timebook_id, "for_pid": stranger.pid}, token=citizen.token)
    assert for_someone.status == 403
    entry = small.join(citizen)
    assert c.delete(f"/waitlist/{entry['id']}", token=stranger.token).status == 404
    assert c.get("/waitlist?limit=0", token=citizen.token).status == 400
    assert c.get("/waitlist?cursor=zzz", token=citizen.token).status == 400


def test_waitlist_pages(small: Small) -> None:
    citizen = Citizen(81)
    for _ in range(3):
        entry = small.join(citizen)
        assert small.client.delete(f"/waitlist/{entry['id']}", token=citizen.token).status == 204
    first = small.client.get("/waitlist?limit=2", token=citizen.token).json
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = small.client.get(f"/waitlist?limit=2&cursor={first['next_cursor']}", token=citizen.token).json
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {e["id"] for e in first["items"]}.isdisjoint(e["id"] for e in rest["items"])


def test_a_newcomer_behind_others_is_offered_by_the_sweep(small: Small) -> None:
    """Joining behind people who wait does not read the whole window; the sweep offers within a minute."""
    holder, early, newcomer = Citizen(91), Citizen(92), Citizen(93)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    small.join(early, **{"from": "2099-01-01T08:00:00+01:00"})  # waits for times that do not exist yet
    small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token)
    assert small.free(small.slot_ids[0]) == 1  # nobody in line wants it
    assert small.join(newcomer)["status"] == "waiting"
    housekeeping.release_expired_holds()
    assert small.entry(newcomer)["status"] == "offered"
    assert small.entry(early)["status"] == "waiting"


def test_a_place_reaches_the_101st_past_a_hundred_who_cannot_take_it(small: Small) -> None:
    """Issue 18: 100 entries that can never be offered stand first; the 101st still gets the place,
    at once when it frees and from the sweep alike."""
    holder, hundred_first = Citizen(95), Citizen(96)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    for n in range(100):
        small.join(Citizen(2000 + n), **{"from": "2099-01-01T08:00:00+01:00"})  # windows that match nothing
    assert small.join(hundred_first)["status"] == "waiting"
    cancelled = small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token)
    assert cancelled.status == 200, cancelled
    offered = small.entry(hundred_first)
    assert offered["status"] == "offered" and offered["offer"]["slot_id"] == small.slot_ids[0], offered
    assert small.free(small.slot_ids[0]) == 0
    assert small.entry(Citizen(2000))["status"] == "waiting"


def test_a_freed_place_reaches_past_a_hundred_at_their_limit(client, demo, staff_token, aws) -> None:
    """Entries whose person is at `max_active_per_person` (which join accepts) are skipped, not a wall:
    the first entry behind a hundred of them is offered the freed place."""
    world = small_world(client, demo, staff_token, aws["queue_url"], slots=2, capacity=100, max_active=1)
    first, second = world.slot_ids
    at_limit = [Citizen(3000 + n) for n in range(100)]
    for citizen in at_limit:
        world.book(citizen, slot_id=first)
    filler, behind = Citizen(3200), Citizen(3201)
    mine = world.book(filler, slot_id=second)
    for n in range(99):
        world.book(Citizen(3300 + n), slot_id=second)
    assert world.free(second) == 0
    for citizen in at_limit:  # each has their one appointment already: no offer can be theirs now
        assert world.join(citizen)["status"] == "waiting"
    assert world.join(behind)["status"] == "waiting"
    assert world.client.post(f"/appointments/{mine['id']}/cancel", {}, token=filler.token).status == 200
    assert world.entry(behind)["status"] == "offered"
    assert world.entry(at_limit[0])["status"] == "waiting"


def test_joining_never_answers_429_after_writing(small: Small, monkeypatch) -> None:
    """Issue 18: the offer step after the entry's commit was throttled and the request answered 429;
    the retry then got `already_waiting`. Now the join answers 201, and the sweep makes the offer."""
    from chalicelib.booking import waitlist
    from chalicelib.errors import Throttled

    citizen = Citizen(97)

    def throttled(*args, **kwargs):
        raise Throttled()

    with monkeypatch.context() as patched:
        patched.setattr(waitlist, "advance", throttled)
        joined = small.client.post("/waitlist", {"timebook_id": small.timebook_id}, token=citizen.token)
    assert joined.status == 201, joined
    assert joined.json["status"] == "waiting"
    housekeeping.release_expired_holds()
    assert small.entry(citizen)["status"] == "offered"


def test_an_offer_never_replaces_the_hold_someone_is_filling_in(client, demo, staff_token, aws) -> None:
    """Issue 18: the offer replaced the hold a person was filling in at step 5 (their send got
    `hold_gone`). Now a person with a live hold is passed over while it lives, keeping their place."""
    world = small_world(client, demo, staff_token, aws["queue_url"], slots=2)
    first, second = world.slot_ids
    holder, filling_in, next_in_line = Citizen(111), Citizen(112), Citizen(113)
    booked = world.book(holder, slot_id=first)
    world.join(filling_in, **{"from": booked["start"], "to": booked["end"]})
    world.join(next_in_line, **{"from": booked["start"], "to": booked["end"]})
    held = world.client.post("/holds", {"slot_id": second}, token=filling_in.token)
    assert held.status == 201, held
    assert world.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200
    assert world.entry(filling_in)["status"] == "waiting"
    assert world.entry(next_in_line)["status"] == "offered"
    sent = world.book(filling_in, hold_id=held.json["id"])  # their hold is still theirs
    assert sent["slot_id"] == second


def test_a_hold_never_silently_takes_an_open_offer(small: Small) -> None:
    """Issue 18: a normal hold freed an open offer while GET /waitlist still showed it `offered`.
    Now the hold is refused (409 `offer_open`) and the offer stays."""
    holder, citizen = Citizen(121), Citizen(122)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    small.join(citizen)
    assert small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200
    offer = small.entry(citizen)["offer"]
    again = small.client.post("/holds", {"slot_id": small.slot_ids[0]}, token=citizen.token)
    assert again.status == 409 and again.json["error"]["code"] == "offer_open", again
    first_free = small.client.post("/holds", {"timebook_id": small.timebook_id}, token=citizen.token)
    assert first_free.status == 409, first_free
    assert small.entry(citizen)["status"] == "offered"
    assert small.book(citizen, hold_id=offer["hold_id"])["slot_id"] == small.slot_ids[0]


def test_the_offer_belongs_to_the_person_it_is_for(small: Small) -> None:
    """Issue 18: the represented person got 404 for the offer made for them (the hold was the
    parent's). Now they, or any current representative, may book or decline it; nobody else."""
    holder, child, stranger = Citizen(141), Citizen(142), Citizen(143)
    parent = Citizen(144, represents=[{"pid": child.pid, "name": "Barn Barnesen"}])
    other_parent = Citizen(145, represents=[{"pid": child.pid, "name": "Barn Barnesen"}])
    booked = small.book(holder, slot_id=small.slot_ids[0])
    small.join(parent, for_pid=child.pid)
    assert small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200
    entry = small.entry(child)
    assert entry["status"] == "offered" and small.entry(other_parent)["id"] == entry["id"]
    body = {"hold_id": entry["offer"]["hold_id"], "answers": {"q1": "ja"}, "phone": child.phone}
    refused = small.client.post("/appointments", body, token=stranger.token)
    assert refused.status in (403, 404), refused
    made = small.client.post("/appointments", body, token=child.token)
    assert made.status == 201, made
    assert small.entry(parent)["status"] == "booked"


def test_an_offer_of_a_place_that_was_free_lasts_as_a_hold(small: Small) -> None:
    """Issue 18: joining while a place was free gave a `waitlist_offer_minutes` hold (a way round
    `hold_minutes`). Now it lasts max(hold_minutes, MIN_OFFER_MINUTES); a freed place keeps the long offer."""
    from chalicelib.domain.waitlist import MIN_OFFER_MINUTES

    citizen = Citizen(151)
    hold_minutes = small.client.get(f"/timebooks/{small.timebook_id}").json["hold_minutes"]
    assert small.join(citizen)["status"] == "offered"
    clock.advance(timedelta(minutes=max(hold_minutes, MIN_OFFER_MINUTES), seconds=1))
    assert small.entry(citizen)["status"] == "expired"


def test_holding_the_same_place_again_never_renews_the_hold(small: Small) -> None:
    """Issue 18: re-posting a hold renewed it forever. The same place held again keeps its end."""
    citizen = Citizen(161)
    first = small.client.post("/holds", {"slot_id": small.slot_ids[0]}, token=citizen.token)
    assert first.status == 201, first
    clock.advance(timedelta(minutes=1))
    again = small.client.post("/holds", {"slot_id": small.slot_ids[0]}, token=citizen.token)
    assert again.status == 201, again
    assert again.json["expires_at"] == first.json["expires_at"]
