"""The fairness measure of `python -m scripts.bench --queue`: Kendall's tau in O(n log n), held
to the O(n^2) definition."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from scripts.bench.queue import kendall_tau, kendall_tau_b


def by_definition(first: list[float], second: list[float]) -> float:
    pairs = list(itertools.combinations(range(len(first)), 2))
    sign = [((first[i] - first[j]) * (second[i] - second[j]) > 0) * 2 - 1 for i, j in pairs]
    return sum(sign) / len(pairs)


@given(st.permutations(list(range(40))))
def test_tau_agrees_with_the_definition(order: list[int]) -> None:
    first = list(range(40))
    assert kendall_tau(first, order) == by_definition(first, order)


def test_tau_of_the_same_and_the_reversed_order() -> None:
    arrivals = [17, 3, 99, 42]
    assert kendall_tau(arrivals, [a * 2.5 for a in arrivals]) == 1.0
    assert kendall_tau(arrivals, [-a for a in arrivals]) == -1.0
    assert kendall_tau([1.0], [2.0]) is None
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == 1 / 3


@given(st.permutations(list(range(30))))
def test_tau_b_without_ties_is_tau(order: list[int]) -> None:
    first = list(range(30))
    assert abs(kendall_tau_b(first, order) - by_definition(first, order)) < 1e-12


def test_tau_b_with_the_unbooked_tied_last() -> None:
    inf = float("inf")
    # The first two booked, in order: 5 concordant pairs, one tie (the best tau-b with that tie).
    assert abs(kendall_tau_b([1, 2, 3, 4], [1, 2, inf, inf]) - 5 / 30**0.5) < 1e-12
    # Booked out of order: 4 concordant, 1 discordant, 1 tie (scipy's kendalltau says the same).
    assert abs(kendall_tau_b([1, 2, 3, 4], [2, 1, inf, inf]) - 3 / 30**0.5) < 1e-12
