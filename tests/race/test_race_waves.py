"""Staff saving a timebook's waves and staff uploading a priority list at the same moment, over
HTTP with real threads against the atomic local stand-in (issue 20): nobody is lost either way
round. Either the list is kept and the PATCH that would drop its wave is 409 `wave_has_list`, or
the wave goes and the upload is 404 `wave_not_found`; never both 200 with the list on a wave that
no longer exists. (In-process moto is not thread-safe, so this race lives here; the two orders
are also forced one by one in tests/booking/test_crossings.py.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.factories import make_pid
from tests.live import WAIT_SECONDS
from tests.race.test_race_http import _post, _staff, _timebook, _token

pytestmark = pytest.mark.race


def _send(method: str, url: str, body: dict[str, Any], token: str) -> requests.Response:
    """As _post: a 429 (the stand-in shedding) is waited out a bounded number of times."""
    for _ in range(10):
        answer = requests.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=WAIT_SECONDS
        )
        if answer.status_code != 429:
            return answer
        time.sleep(min(float(answer.headers.get("Retry-After", "1")), 2.0))
    return answer


def _at_once(*calls: Any) -> list[requests.Response]:
    start, answers = threading.Barrier(len(calls)), [None] * len(calls)

    def run(n: int) -> None:
        start.wait()
        answers[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers  # type: ignore[return-value]


def _one_round(url: str, n: int) -> None:
    her_id = f"82090{n + 10}"
    tb, _, slots = _timebook(url, her_id, places=(1, 1))
    staff = _staff(url, her_id)
    now = datetime.now(UTC).replace(microsecond=0)
    waves = [
        {"opens_at": (now + timedelta(hours=1)).isoformat()},  # a list only
        {"opens_at": (now + timedelta(hours=10)).isoformat(), "born_from": "1900-01-01", "born_to": "1900-12-31"},
    ]
    shown = requests.get(f"{url}/timebooks/{tb}", headers={"cache-control": "no-cache"}, timeout=WAIT_SECONDS)
    set_up = _send("PATCH", f"{url}/admin/timebooks/{tb}", {"waves": waves, "version": shown.json()["version"]}, staff)
    assert set_up.status_code == 200, set_up.text
    listed_wave, born_wave = set_up.json()["waves"]
    person = make_pid(7300 + n)
    body = {"waves": [born_wave], "version": set_up.json()["version"]}
    people = {"pids": [person]}
    saved, sent = _at_once(
        lambda: _send("PATCH", f"{url}/admin/timebooks/{tb}", body, staff),
        lambda: _post(url, f"/admin/timebooks/{tb}/waves/{listed_wave['id']}/people", people, staff),
    )
    outcome = (saved.status_code, sent.status_code)
    assert outcome in ((409, 200), (200, 404)), (saved.text, sent.text)
    kept = listed_wave if outcome == (409, 200) else born_wave
    citizen = _token(url, {"sub": person, "role": "citizen", "name": f"Listed {n}"})
    refused = _post(url, "/holds", {"slot_id": slots[0]}, citizen)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_open_yet"), refused.text
    opens = datetime.fromisoformat(refused.json()["error"]["opens_at"])
    assert opens == datetime.fromisoformat(kept["opens_at"]), (outcome, refused.text)


def test_saving_waves_and_uploading_a_list_at_once_lose_nobody(live_url: str) -> None:
    for n in range(3):
        _one_round(live_url, n)
