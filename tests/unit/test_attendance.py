"""The attendance peak's pure parts: when `PeakLedger` writes (a join storm costs a write per
`step` parents and per `interval` seconds, a crash loses at most that much), and how the
figures show and aggregate the peak (a max, never a sum; None when not recorded)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sessions import figures
from sessions.attendance import PARENT_ROLES, PeakLedger, PeakPolicy
from sessions.figures import CafeFigures
from sessions.roles import Role


def test_only_parents_count() -> None:
    assert {Role.PARTICIPANT, Role.VIEWER} == PARENT_ROLES


def test_the_first_parent_is_written_at_once_then_by_step_or_interval() -> None:
    ledger = PeakLedger(PeakPolicy(step=10, interval=5.0))
    assert ledger.seen(1, 0, now=0.0) is None  # staff only: nothing to write
    assert ledger.due_at(1) is None
    assert ledger.seen(1, 1, now=0.0) == 1  # the first parent: at once
    assert ledger.seen(1, 5, now=0.1) is None  # a write in flight
    assert ledger.due_at(1) is None
    ledger.written(1, 1, ok=True)
    assert ledger.due_at(1) == 5.0  # grown by less than a step: after the interval
    assert ledger.seen(1, 6, now=1.0) is None
    assert ledger.seen(1, 11, now=1.5) == 11  # grown by a step since the last written
    ledger.written(1, 11, ok=True)
    assert ledger.seen(1, 12, now=2.0) is None
    assert ledger.due(1, now=4.9) is None
    assert ledger.due(1, now=6.5) == 12  # the interval since the last write
    ledger.written(1, 12, ok=True)
    assert ledger.due_at(1) is None and ledger.unwritten() == {}


def test_a_join_storm_costs_a_write_per_step_not_per_join() -> None:
    ledger = PeakLedger(PeakPolicy(step=100, interval=5.0))
    writes: list[int] = []
    for joined in range(1, 2001):  # 2,000 parents in 3 seconds
        due = ledger.seen(9, joined, now=joined * 0.0015)
        if due is not None:
            writes.append(due)
            ledger.written(9, due, ok=True)
    assert len(writes) <= 2000 // 100 + 1
    assert writes[0] == 1 and writes[-1] >= 1901
    # what a crash now would lose: less than a step
    assert 2000 - writes[-1] < 100
    assert ledger.unwritten() == {9: 2000}
    assert ledger.due(9, now=3.0 + 5.0) == 2000  # the timer writes the rest


def test_the_peak_never_goes_down_and_a_failed_write_is_due_again() -> None:
    ledger = PeakLedger(PeakPolicy(step=5, interval=2.0))
    assert ledger.seen(3, 7, now=0.0) == 7
    ledger.written(3, 7, ok=False)  # the database was away
    assert ledger.seen(3, 4, now=0.5) is None  # a lower maximum (a fresh backend) changes nothing
    assert ledger.highest(3) == 7
    assert ledger.due_at(3) == 2.0
    assert ledger.due(3, now=2.0) == 7
    ledger.written(3, 7, ok=True)
    assert ledger.unwritten() == {}
    ledger.forget(3)
    assert ledger.highest(3) == 0


def test_cafes_are_apart() -> None:
    ledger = PeakLedger(PeakPolicy(step=2, interval=1.0))
    assert ledger.seen(1, 1, now=0.0) == 1
    assert ledger.seen(2, 1, now=0.0) == 1
    ledger.written(1, 1, ok=True)
    assert ledger.unwritten() == {2: 1}


@pytest.mark.parametrize("step,interval", [(0, 1.0), (1, 0.0)])
def test_a_policy_is_bounded(step: int, interval: float) -> None:
    with pytest.raises(ValueError):
        PeakPolicy(step=step, interval=interval)


def _cafe(slug: str, theme: str, month: int, peak: int | None, parents: int) -> CafeFigures:
    return CafeFigures(slug=slug, title=slug, theme=theme,
                       starts_at=datetime(2026, month, 3, 18, tzinfo=UTC), status="ended",
                       peak_parents=peak, parents=parents, questions=1, approved=1,
                       answered=1, unanswered=0, reports=0, transcript="none")


def test_aggregate_peak_is_the_highest_not_the_sum() -> None:
    cafes = [_cafe("a", "screens", 10, 40, 55), _cafe("b", "screens", 11, 25, 30),
             _cafe("c", "fake-news", 11, None, 12)]
    by_theme = {t.key: t for t in figures.totals(cafes, lambda c: c.theme)}
    assert by_theme["screens"].peak_parents == 40 and by_theme["screens"].parents == 85
    assert by_theme["fake-news"].peak_parents is None  # not recorded, not zero
    by_month = {t.key: t for t in figures.totals(cafes, lambda c: c.month)}
    assert by_month["2026-11"].peak_parents == 25 and by_month["2026-11"].parents == 42


def test_csv_has_the_peak_and_leaves_an_unrecorded_one_empty() -> None:
    lines = figures.to_csv([_cafe("a", "screens", 10, 40, 55),
                            _cafe("c", "fake-news", 11, None, 12)]).splitlines()
    assert lines[0].startswith("slug,title,theme,starts_at,status,peak_parents,parents,")
    assert ",ended,40,55," in lines[1]
    assert ",ended,,12," in lines[2]
