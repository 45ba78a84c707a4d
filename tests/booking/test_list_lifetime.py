"""A priority list lives until the timebook's last wave *as it is now* has opened, plus its
`retention_days` (issue 20, docs/security.md): a PATCH that moves the waves stamps the list's
entries again (in the request for a small list, the every-minute schedule for the rest of a large
one), later or earlier, and an upload racing the PATCH ends with the lifetime the final waves give."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.booking import housekeeping, queue
from chalicelib.storage import queue as queue_storage
from chalicelib.storage import repository
from tests.booking.test_queue import hold, make_timebook
from tests.booking.test_wave_lists import upload
from tests.conftest import Citizen

RETENTION_DAYS = 1


def _listed_timebook(client: Any, demo: Any, staff_token: str) -> tuple[str, list[str], list[dict[str, Any]]]:
    now = clock.now()
    waves = [
        {"opens_at": (now + timedelta(hours=1)).isoformat()},  # a list only
        {"opens_at": (now + timedelta(hours=10)).isoformat(), "born_from": "1900-01-01", "born_to": "1900-12-31"},
    ]
    # The day after every clock move here.
    tb, slots = make_timebook(client, demo, staff_token, days_ahead=5, waves=waves, retention_days=RETENTION_DAYS)
    return tb, slots, client.get(f"/timebooks/{tb}").json["waves"]


def _patch(client: Any, tb: str, body: dict[str, Any], token: str) -> Any:
    version = client.get(f"/timebooks/{tb}", headers={"cache-control": "no-cache"}).json["version"]
    answer = client.request("PATCH", f"/admin/timebooks/{tb}", json_body={"version": version, **body}, token=token)
    assert answer.status == 200, answer
    return answer


def _last_wave_at(
    client: Any, tb: str, staff_token: str, born_wave: dict[str, Any], listed_wave: dict[str, Any], opens: datetime
) -> Any:
    return _patch(client, tb, {"waves": [listed_wave, {**born_wave, "opens_at": opens.isoformat()}]}, staff_token)


def _ttls(tb: str) -> list[int | None]:
    """Every entry's lifetime (epoch seconds), as stored."""
    entries, after = queue_storage.list_entries(tb, None, 10_000)
    assert after is None
    return [entry.ttl for entry in entries]


def _lifetime(opens: datetime) -> int:
    return clock.epoch(opens + timedelta(days=RETENTION_DAYS))


def test_a_listed_person_keeps_their_early_wave_when_the_last_wave_is_postponed(client, demo, staff_token):
    tb, slots, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    person, other = Citizen(9501), Citizen(9502)
    assert upload(client, tb, listed_wave["id"], {"pids": [person.pid]}, staff_token).status == 200
    uploaded_until = _lifetime(datetime.fromisoformat(born_wave["opens_at"]))
    postponed = clock.now() + timedelta(days=3)  # past the lifetime the upload gave
    _last_wave_at(client, tb, staff_token, born_wave, listed_wave, postponed)
    clock.advance(timedelta(seconds=uploaded_until - clock.epoch() + 3600))  # past the upload's lifetime
    assert hold(client, slots[0], person).status == 201
    refused = hold(client, slots[1], other)
    assert (refused.status, refused.json["error"]["code"]) == (403, "not_open_yet")
    assert datetime.fromisoformat(refused.json["error"]["opens_at"]) == postponed
    assert [x["timebook_id"] for x in client.get("/me/data", token=person.token).json["priority_lists"]] == [tb]
    assert _ttls(tb) == [_lifetime(postponed)]  # what DynamoDB's TTL goes by


def test_a_patch_moving_the_waves_earlier_shortens_the_lists(client, demo, staff_token):
    tb, _, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    person = Citizen(9511)
    assert upload(client, tb, listed_wave["id"], {"pids": [person.pid]}, staff_token).status == 200
    sooner = clock.now() + timedelta(hours=2)
    _last_wave_at(client, tb, staff_token, born_wave, listed_wave, sooner)
    assert _ttls(tb) == [_lifetime(sooner)]
    _patch(client, tb, {"retention_days": 30}, staff_token)  # retention days move it too
    assert _ttls(tb) == [clock.epoch(sooner + timedelta(days=30))]
    _patch(client, tb, {"retention_days": RETENTION_DAYS}, staff_token)
    assert _ttls(tb) == [_lifetime(sooner)]
    clock.advance(timedelta(hours=2, days=RETENTION_DAYS, minutes=1))  # past the new lifetime, not the old
    assert client.get("/me/data", token=person.token).json["priority_lists"] == []
    _patch(client, tb, {"retention_days": 30}, staff_token)  # a list past its lifetime is not brought back
    assert _ttls(tb) == [_lifetime(sooner)]


def test_a_change_that_keeps_the_lifetime_walks_nothing(client, demo, staff_token, monkeypatch):
    tb, _, (listed_wave, _born) = _listed_timebook(client, demo, staff_token)
    assert upload(client, tb, listed_wave["id"], {"pids": [Citizen(9521).pid]}, staff_token).status == 200
    walked: list[str] = []
    original = queue_storage.list_entries
    monkeypatch.setattr(queue_storage, "list_entries", lambda *a, **k: walked.append(a[0]) or original(*a, **k))
    _patch(client, tb, {"hold_minutes": 7}, staff_token)
    assert walked == [] and queue_storage.unfinished_restamps() == []


def test_a_large_list_is_stamped_page_by_page_by_the_schedule(client, demo, staff_token, monkeypatch):
    tb, slots, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    people = [Citizen(9530 + n) for n in range(10)]
    assert upload(client, tb, listed_wave["id"], {"pids": [p.pid for p in people]}, staff_token).status == 200
    monkeypatch.setattr(queue, "RESTAMP_PAGE", 3)
    monkeypatch.setattr(queue, "RESTAMP_BUDGET_SECONDS", -1.0)  # the request stamps one page, no more
    postponed = clock.now() + timedelta(days=3)
    _last_wave_at(client, tb, staff_token, born_wave, listed_wave, postponed)
    assert sorted(_ttls(tb)).count(_lifetime(postponed)) == 3
    assert queue_storage.unfinished_restamps() == [tb]
    runs = 0
    while queue_storage.unfinished_restamps():
        assert queue.restamp_unfinished(budget_seconds=-1.0) <= 1  # one page a run
        runs += 1
        assert runs < 10
    assert runs == 3  # 3 + 3 + 3 + 1 entries: the request's page, then one a run
    assert _ttls(tb) == [_lifetime(postponed)] * 10
    housekeeping.release_expired_holds()  # the every-minute schedule: nothing left, nothing written
    assert _ttls(tb) == [_lifetime(postponed)] * 10
    clock.advance(timedelta(days=RETENTION_DAYS, hours=12))  # past the upload's lifetime
    assert all(hold(client, slots[n], p).status == 201 for n, p in enumerate(people[:4]))


def test_a_walk_of_older_waves_never_outlasts_the_newer(client, demo, staff_token, monkeypatch):
    """Two PATCHes: the first postpones (one page stamped, the rest left to the schedule), the
    second brings the last wave back sooner and walks from the start: the schedule finds nothing
    of the first's left, and every entry has the second's lifetime, the first page too."""
    tb, _, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    pids = [Citizen(9550 + n).pid for n in range(7)]
    assert upload(client, tb, listed_wave["id"], {"pids": pids}, staff_token).status == 200
    monkeypatch.setattr(queue, "RESTAMP_PAGE", 3)
    monkeypatch.setattr(queue, "RESTAMP_BUDGET_SECONDS", -1.0)
    _last_wave_at(client, tb, staff_token, born_wave, listed_wave, clock.now() + timedelta(days=3))
    monkeypatch.setattr(queue, "RESTAMP_BUDGET_SECONDS", 60.0)
    sooner = clock.now() + timedelta(hours=5)
    _last_wave_at(client, tb, staff_token, born_wave, listed_wave, sooner)
    queue.restamp_unfinished()
    assert _ttls(tb) == [_lifetime(sooner)] * 7 and queue_storage.unfinished_restamps() == []


# ---- a PATCH and an upload at once: each order forced -------------------------------------------------


def _meanwhile(action: Any) -> tuple[list[Any], Any]:
    """`action` once, in its own thread (another staff member's request), at the first call."""
    done: list[Any] = []

    def once() -> None:
        if not done:
            worker = threading.Thread(target=lambda: done.append(action()))
            worker.start()
            worker.join()

    return done, once


def _race(client: Any, demo: Any, staff_token: str, monkeypatch: Any, where: str) -> None:
    tb, slots, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    early = Citizen(9561)
    assert upload(client, tb, listed_wave["id"], {"pids": [early.pid]}, staff_token).status == 200
    person = Citizen(9562)
    postponed = clock.now() + timedelta(days=3)
    body = {"waves": [listed_wave, {**born_wave, "opens_at": postponed.isoformat()}]}
    send_patch = lambda: _patch(client, tb, body, staff_token)  # noqa: E731
    send_upload = lambda: upload(client, tb, listed_wave["id"], {"pids": [person.pid]}, staff_token)  # noqa: E731
    if where == "upload between the patch's read and write":
        done, once = _meanwhile(send_upload)
        original = repository.change_timebook_settings
        monkeypatch.setattr(repository, "change_timebook_settings", lambda *a, **k: (once(), original(*a, **k))[1])
        send_patch()
    elif where == "patch between the upload's read and its mark":
        done, once = _meanwhile(send_patch)
        original = queue_storage.add_wave_people
        monkeypatch.setattr(queue_storage, "add_wave_people", lambda *a, **k: (once(), original(*a, **k))[1])
        assert send_upload().status == 200
    else:  # the patch (its write and its walk) between the upload's mark and its entries' write
        from chalicelib.storage.models import QueueItem

        done, once = _meanwhile(send_patch)
        writer = QueueItem.batch_write
        monkeypatch.setattr(QueueItem, "batch_write", lambda *a, **k: (once(), writer(*a, **k))[1])
        assert send_upload().status == 200
    assert done and done[0].status == 200, done
    assert _ttls(tb) == [_lifetime(postponed)] * 2, where
    clock.advance(timedelta(days=RETENTION_DAYS, hours=12))  # past the lifetime the first upload gave
    assert hold(client, slots[0], early).status == 201 and hold(client, slots[1], person).status == 201


@pytest.mark.parametrize(
    "where", ["upload between the patch's read and write", "patch between the upload's read and its mark"]
)
def test_a_patch_racing_an_upload_leaves_the_final_lifetime(client, demo, staff_token, monkeypatch, where):
    _race(client, demo, staff_token, monkeypatch, where)


@pytest.mark.moto  # the upload's mark and its entries' write are one call of the fake
def test_a_patch_landing_between_an_uploads_mark_and_write_leaves_the_final_lifetime(
    client, demo, staff_token, monkeypatch
):
    _race(client, demo, staff_token, monkeypatch, "patch between the upload's mark and write")


def test_a_walk_that_fails_in_the_request_leaves_the_change_made_and_the_schedule_finishes_it(
    client, demo, staff_token, monkeypatch
):
    from chalicelib.errors import Throttled

    tb, _, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    assert upload(client, tb, listed_wave["id"], {"pids": [Citizen(9571).pid]}, staff_token).status == 200
    original = queue_storage.stamp_entries

    def throttled(*args: Any, **kwargs: Any) -> int:
        raise Throttled("busy")

    monkeypatch.setattr(queue_storage, "stamp_entries", throttled)
    postponed = clock.now() + timedelta(days=3)
    _last_wave_at(client, tb, staff_token, born_wave, listed_wave, postponed)  # 200: the change is made
    assert queue_storage.unfinished_restamps() == [tb]
    assert queue.restamp_unfinished() == 0  # still throttled: the next minute tries again
    monkeypatch.setattr(queue_storage, "stamp_entries", original)
    assert queue.restamp_unfinished() == 1
    assert _ttls(tb) == [_lifetime(postponed)] and queue_storage.unfinished_restamps() == []


def test_a_dropped_waves_list_is_not_kept_longer_by_a_postponement(client, demo, staff_token):
    """Crossing (merger): `drop_lists` × the re-stamp. A PATCH that drops a listed wave and
    postpones the last one must not extend the dropped list: it decides nothing any more, and a
    longer life is only data kept (docs/security.md). A shorter one it may take."""
    tb, _, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    assert upload(client, tb, listed_wave["id"], {"pids": [Citizen(9541).pid]}, staff_token).status == 200
    uploaded_until = _lifetime(datetime.fromisoformat(born_wave["opens_at"]))
    postponed = clock.now() + timedelta(days=3)
    _patch(client, tb, {"waves": [{**born_wave, "opens_at": postponed.isoformat()}], "drop_lists": True}, staff_token)
    assert _ttls(tb) == [uploaded_until]
    sooner = clock.now() + timedelta(hours=2)
    _patch(client, tb, {"waves": [{**born_wave, "opens_at": sooner.isoformat()}]}, staff_token)
    assert _ttls(tb) == [_lifetime(sooner)]
