"""scripts/import_ratio.py --against: trees measured on one shared denominator, interleaved."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scripts.import_ratio import ROOT, compare


def test_trees_are_compared_on_one_denominator() -> None:
    result = compare([ROOT, ROOT], runs=1, code="import json")
    (tree,) = result["trees"]  # the same tree named twice is one entry
    assert tree == str(ROOT)
    assert result["bare_cpu_median_ms"] >= 0
    assert result["trees"][tree]["cpu_median_ms"] > 0


def test_a_tree_that_cannot_import_the_code_is_refused_before_measuring(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        compare([ROOT, tmp_path], runs=1, code="import app")  # an empty directory has no app.py
