"""Against the `make run` stack: the SMART feed at the URLs its manifest names, Helsenorge's stand-in."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from tests.live import WAIT_SECONDS
from tests.race.test_race_http import _post, _requested_appointment


def _until(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_helsenorge_stand_in_and_the_feed_on_the_make_run_stack(live_url: str) -> None:
    appointment_id, staff, citizen, timebook_id = _requested_appointment(live_url, "7401")
    auth = {"Authorization": f"Bearer {citizen}"}
    assert _post(live_url, f"/admin/appointments/{appointment_id}/confirm", {}, staff).status_code == 200

    def kept() -> dict[str, Any] | None:
        items = requests.get(f"{live_url}/dev/helsenorge/appointments", timeout=WAIT_SECONDS).json()["items"]
        found = [i for i in items if i["id"] == appointment_id and i["meta"]["versionId"] == "1"]
        return found[0] if found else None

    sent = _until(kept, WAIT_SECONDS)  # a ceiling, not a speed: found at once on a quiet machine
    assert sent is not None and sent["status"] == "booked"
    fhir = requests.get(f"{live_url}/appointments/{appointment_id}/fhir", headers=auth, timeout=WAIT_SECONDS)
    assert fhir.headers["Content-Type"] == "application/fhir+json" and fhir.json() == sent

    redirect = requests.get(f"{live_url}/fhir/$bulk-publish", allow_redirects=False, timeout=WAIT_SECONDS)
    assert redirect.status_code == 302
    manifest_url = redirect.headers["Location"]
    manifest = requests.get(manifest_url, timeout=WAIT_SECONDS)
    assert manifest.status_code == 200 and "max-age" in manifest.headers["Cache-Control"]
    assert manifest.json()["request"] == manifest_url
    again = requests.get(manifest_url, headers={"If-None-Match": manifest.headers["ETag"]}, timeout=WAIT_SECONDS)
    assert again.status_code in (200, 304)  # 200 only if a publication came in between
    slot_id = requests.get(f"{live_url}/appointments/{appointment_id}", headers=auth, timeout=WAIT_SECONDS).json()[
        "slot_id"
    ]

    def busy_slot() -> dict[str, Any] | None:
        urls = [
            o["url"] for o in requests.get(manifest_url, timeout=WAIT_SECONDS).json()["output"] if o["type"] == "Slot"
        ]
        for url in urls:
            answer = requests.get(url, timeout=WAIT_SECONDS)
            assert answer.headers["Content-Type"] == "application/fhir+ndjson"
            for line in answer.text.splitlines():
                slot = json.loads(line)
                if slot["id"] == slot_id.replace("_", "."):
                    return slot if slot["status"] == "busy" else None
        return None

    slot = _until(busy_slot, 30 + WAIT_SECONDS)  # the next publication (every 30 s locally)
    assert slot is not None and slot["schedule"]["reference"].startswith(f"Schedule/{timebook_id}.")
