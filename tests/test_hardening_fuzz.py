"""CI slice of `make fuzz` (a few hundred cases): zero 5xx, every answer documented and well formed.

`make fuzz` runs the same three fuzzers with >= 10,000 cases and prints the figures.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hardening import fuzz  # noqa: E402

SEED = 20261122


def _assert_clean(tally, n):
    assert tally.cases >= n
    assert tally.failed == 0, tally.failures[:3]
    assert not any(isinstance(s, int) and s >= 500 for s in tally.statuses), tally.statuses
    assert "crash" not in tally.statuses and "no-answer" not in tally.statuses


@pytest.mark.timeout(300)
def test_event_fuzz_slice(api_app):
    tally = fuzz.fuzz_events(150, SEED, api_app.lambda_handler)
    _assert_clean(tally, 150)
    assert {400, 404, 405} <= set(tally.statuses)  # it reaches the routing and the body parsing


@pytest.mark.timeout(300)
def test_image_mutation_fuzz_slice(api_app):
    tally = fuzz.fuzz_images(120, SEED, api_app.lambda_handler)
    _assert_clean(tally, 120)
    assert {200, 415, 422} <= set(tally.statuses)  # mutants that still decode, and ones that don't


@pytest.mark.timeout(600)
def test_schemathesis_gateway_slice(api_app):
    tally = fuzz.fuzz_gateway(80, SEED, api_app.lambda_handler)
    _assert_clean(tally, 80)
    assert any(s == 200 for s in tally.statuses) and any(isinstance(s, int) and 400 <= s < 500 for s in tally.statuses)


def test_fuzzers_report_server_errors_and_crashes(api_app):
    """The tallies can fail: a handler that answers 500 or raises is counted as a failure."""
    real = api_app.lambda_handler
    calls = {"n": 0}

    def flaky(event, context):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("boom")
        if calls["n"] % 3 == 1:
            return {"statusCode": 500, "headers": {}, "body": '{"error":{"code":"internal_error","message":"x"}}'}
        return real(event, context)

    images = fuzz.fuzz_images(12, SEED, flaky)
    events = fuzz.fuzz_events(12, SEED, flaky)
    for tally in (images, events):
        assert tally.failed >= 8, tally.statuses
        assert tally.statuses["crash"] >= 4 and tally.statuses[500] >= 4
