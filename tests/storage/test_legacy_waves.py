"""Waves and priority lists stored before waves had ids (issue 20, session 6): a wave without an
id reads with its index as id ("000"), which is what its list's entries were keyed on (`W#000`),
so the lists still count, and a timebook marked only `priority_lists` counts every wave as listed
(a settings change that leaves one out asks rather than lose a list it cannot see)."""

from __future__ import annotations

import pytest

from chalicelib.domain.model import HealthContact
from chalicelib.storage import catalog, keys, queue
from chalicelib.storage.models import QueueItem, TimebookItem
from tests.conftest import moto_aws
from tests.storage.test_contract import NOW, TB, _lab_timebook

pytestmark = pytest.mark.fast


def test_lists_stored_on_wave_numbers_still_count() -> None:
    with moto_aws():
        catalog.create_health_contact(HealthContact("hc1", "Kommune", "Lab", "1234"), "x")
        catalog.create_timebook(_lab_timebook(), "x")
        old = [{"opens_at": f"2030-03-0{d}T08:00:00+00:00", "born_from": None, "born_to": None} for d in (1, 2)]
        TimebookItem(*keys.timebook(TB)).update(
            actions=[TimebookItem.waves.set(old), TimebookItem.priority_lists.set(True)]
        )
        QueueItem(keys.wave_person(TB, "aa"), "W#001", count=1, ttl=NOW + 60).save()
        stored = catalog.get_timebook(TB)
        assert stored is not None and [w.id for w in stored.waves] == ["000", "001"]
        assert stored.listed_waves == {"000", "001"}
        assert queue.waves_of_person(TB, "aa", NOW) == ["001"]
