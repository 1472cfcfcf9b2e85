"""The decisions of a transfer that spans step runs (chalicelib/domain/transfers.py)."""
from __future__ import annotations

import pytest

from chalicelib.domain import transfers


def test_a_run_stops_after_its_budget_and_well_before_lambda_would_end_it():
    assert transfers.run_budget(600, 900) == transfers.RunBudget(600, 840)
    assert transfers.run_budget(600, 300) == transfers.RunBudget(240, 240)  # a short Lambda
    assert transfers.run_budget(1, 900).stop_after == 1
    assert transfers.run_budget(600, 30).hard_limit == transfers.MIN_RUN_SECONDS


@pytest.mark.parametrize("size,done,rate,left,fits", [
    (100, 0, 10.0, 10.0, True),
    (100, 0, 10.0, 9.9, False),
    (100, 50, 10.0, 5.0, True),
    (None, 0, 10.0, 1.0, True),     # unknown size: the run finds out
    (100, 0, None, 1.0, True),      # no rate measured yet
])
def test_whether_the_rest_fits_one_run(size, done, rate, left, fits):
    assert transfers.fits_one_run(size, done, rate, left) is fits


def test_progress_shows_bytes_percent_rate_eta_and_runs():
    assert transfers.progress("download", 25, 100, 5.0, 2) == {
        "step": "download", "bytes_done": 25, "bytes_total": 100, "percent": 25,
        "rate_bytes_per_second": 5, "eta_seconds": 15, "runs": 2}
    unknown = transfers.progress("ingest", 25, None, None, 1)
    assert (unknown["percent"], unknown["eta_seconds"], unknown["rate_bytes_per_second"]) == \
        (None, None, None)


def test_the_state_between_runs_survives_its_record():
    state = transfers.TransferState(checkpoint={"part_size": 5, "parts": 2}, validator='"v1"',
                                    runs=3, seconds=1.5, rate=2.0)
    assert transfers.TransferState.from_dict(state.as_dict()) == state
    assert transfers.TransferState.from_dict(None) == transfers.TransferState()
    assert transfers.TransferState.from_dict({"runs": 1, "unknown": "ignored"}).runs == 1
