"""GET /admin/figures: the business figures this process has counted since it started
(chalicelib/metrics.py), for staff. Local and per instance: under `make run` that is the whole
API; in AWS each Lambda instance counts its own, and the CloudWatch dashboard adds them up."""

from __future__ import annotations

from chalicelib import metrics
from chalicelib.domain.people import Principal
from chalicelib.errors import Forbidden


def figures(principal: Principal) -> metrics.Figures:
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.", code="staff_only")
    return metrics.snapshot()
