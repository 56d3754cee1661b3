"""template.yaml security: the controls (least-privilege IAM, private encrypted TLS-only buckets,
throttling, WAF), cfn-lint clean, checkov clean with every suppression justified, on the template
as deployed by default and with every optional part on.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hardening import security  # noqa: E402


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return [security.TEMPLATE, security.all_on_variant(str(tmp_path_factory.mktemp("tpl")))]


def test_security_controls_hold():
    found = security.controls()
    assert len(found) == 4  # IAM, S3, API Gateway, WAF: each asserted inside controls()


def test_all_on_variant_switches_every_option_on(variants):
    text = Path(variants[1]).read_text()
    for name, value in security.ALL_ON.items():
        assert re.search(r"\n  %s:\n(?:    .*\n)*?    Default: %s\n" % (name, re.escape(value)), text), name


@pytest.mark.parametrize("regex_index,limit", [(0, 6_250_000), (1, 4_700_000)])
def test_waf_oversize_regexes_match_exactly_the_sizes_over_the_limit(regex_index, limit):
    pattern = re.compile(security.oversize_regexes()[regex_index])
    samples = list(range(limit - 3000, limit + 3000)) + [0, 9, 10**6 - 1, 10**6, 9_999_999, 10**7, 10**8 + 7, 10**9]
    wrong = [n for n in samples if bool(pattern.match(str(n))) != (n >= limit)]
    assert not wrong, wrong[:5]
    assert pattern.match("0" + str(limit)) and not pattern.match("0" + str(limit - 1))


def test_waf_oversize_limits_fit_lambda_and_the_function_limit():
    """4.5 MB images must pass (the function's own 413 answers above), Lambda's event cap must not be hit."""
    lambda_event_limit = 6 * 1024 * 1024  # bytes, synchronous invocation request
    envelope = 16 * 1024  # headers + requestContext of a proxy event, generously
    max_image = 4_500_000
    assert 4_700_000 > max_image and 4 * (4_700_000 - 1) // 3 + 4 + envelope <= lambda_event_limit
    assert 6_250_000 > 4 * max_image // 3 + 100 and 6_250_000 - 1 + envelope <= lambda_event_limit


def test_cfn_lint_clean(variants):
    result = security.cfn_lint(variants)
    assert result["findings"] == 0, result["details"]


@pytest.mark.timeout(600)
def test_checkov_clean_and_every_suppression_justified(variants):
    if not os.path.exists(security.CHECKOV):
        if os.environ.get("CI"):
            pytest.fail(f"{security.CHECKOV} missing: CI must run `make checkov-venv`")
        pytest.skip("checkov not installed here (make checkov-venv)")
    result = security.checkov(variants)
    assert result["failed"] == 0, result["failures"]
    assert result["passed"] >= 15
    for s in result["suppressions"]:
        assert len(s["comment"]) >= 40, f"{s['id']} on {s['resource']} needs a real justification"
