import time
from datetime import timedelta

from chalicelib import clock
from chalicelib.booking import closures
from tests.conftest import Citizen
from tests.helpers import book_body, timebook_body


def test_measure(client, demo, staff_token, aws):
    body = timebook_body(demo.smittevern_id, requires_confirmation=False, max_active_per_person=None)
    body["form"]["questions"][0]["id"] = "q1"
    tb = client.post("/admin/timebooks", body, token=staff_token).json["id"]
    loc = client.post(f"/admin/timebooks/{tb}/locations", {"name": "A", "address": "G 1"}, token=staff_token).json["id"]
    first = (clock.local(clock.now()) + timedelta(days=2)).date()
    last = first + timedelta(days=119)
    sched = {"location_id": loc, "from": first.isoformat(), "to": last.isoformat(), "weekdays": [1, 2, 3, 4, 5, 6, 7],
             "start_time": "08:00", "end_time": "12:15", "slot_minutes": 15, "capacity": 2}
    t = time.monotonic()
    mid = first + timedelta(days=59)
    for a, b in ((first, mid), (mid + timedelta(days=1), last)):
        made = client.post(f"/admin/timebooks/{tb}/schedules", {**sched, "from": a.isoformat(), "to": b.isoformat()}, token=staff_token)
        print("created", made.json, round(time.monotonic() - t, 1))
    day = first.isoformat()
    slots = client.get(f"/timebooks/{tb}/slots?date={day}").json["items"]
    for n in range(5):
        client.post("/appointments", book_body(Citizen(5000 + n).phone, {"q1": "ja"}, slot_id=slots[n]["id"]), token=Citizen(5000 + n).token)
    off = clock.local(clock.now()).strftime("%z")
    off = off[:3] + ":" + off[3:]
    cbody = {"from": f"{first}T00:00:00{off}", "to": f"{last + timedelta(days=1)}T00:00:00{off}", "reason": "Stengt"}
    t = time.monotonic()
    answer = client.post(f"/admin/timebooks/{tb}/closures", cbody, token=staff_token)
    print("POST", answer.status, answer.json, round(time.monotonic() - t, 1))
    runs = 0
    while not closures.finish_unfinished(budget_seconds=40.0):
        runs += 1
        assert runs < 40
    print("MEASURE total seconds", round(time.monotonic() - t, 1), "background runs", runs + 1)
