"""The three answers on the page in real Chromium, against the gateway and the real handler: REAL
(green), UNCERTAIN (amber, saying what it means and why) and FAKE (red), each with the uncertain
band on the probability bar, the Confidence in words, and the same colour in the face box, the face
panel, the history and the chart; a rejected file after a good one leaves nothing of the old
result. The shipped model is served with edited copies of its card (threshold and band placed
around the probe image's P(fake)), so every answer is set by the card, not by what the model
thinks of a photo. Screenshots: artifacts/screenshots/verdict-*.png, rejected-after-result.png.
"""
from __future__ import annotations

import json

import pytest

from test_page_browser import (FACES, FACE_MODELS, Live, api_answer, browser, card_live, expected_confidence,  # noqa: F401
                               live, page_at, shot, wait_history)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# the stylesheet's --real, --uncertain and --fake, as Chromium computes them
COLOURS = {"real": "rgb(26, 127, 75)", "uncertain": "rgb(163, 82, 0)", "fake": "rgb(179, 38, 30)"}


@pytest.fixture(scope="module")
def handler(template_handler):
    """The page tests' handler (their `live` gateway serves it), face models on explicitly."""
    return template_handler(FACE_MODEL_DIR=FACE_MODELS)


@pytest.fixture(scope="module")
def probe(handler):
    """A face photo with one face and 0.15 < P(fake) < 0.85 under the served model (whatever it
    is), and that P(fake): the cards below put their threshold and band around it."""
    lv = Live(handler)
    try:
        for folder in sorted(p for p in FACES.glob("*/*") if p.is_dir()):
            for path in sorted(folder.glob("*.jpg"))[:3]:
                status, body = api_answer(lv, path.read_bytes())
                assert status == 200, body
                if len(body["faces"]) == 1 and 0.15 < body["fake_probability"] < 0.85:
                    return path, body["fake_probability"]
    finally:
        lv.close()
    pytest.fail("no shared face photo with one face and 0.15 < P(fake) < 0.85 under this model")


def cards(p):
    """verdict -> card changes that make the probe's answer that verdict."""
    real_t, fake_t = (1 + p) / 2, p / 2
    return {
        "real": {"threshold": real_t, "verdict_policy": {
            "uncertain_band": [real_t - 0.05, real_t + 0.05], "min_face_side": 0, "rule": "test: above the probe"}},
        "uncertain": {"verdict_policy": {"uncertain_band": [0.01, 0.99], "min_face_side": 0, "rule": "test: wide band"}},
        "fake": {"threshold": fake_t, "verdict_policy": {
            "uncertain_band": [fake_t - 0.05, fake_t + 0.05], "min_face_side": 0, "rule": "test: below the probe"}},
    }


def left_width(page, selector):
    style = page.eval_on_selector(selector, "e => [e.style.left, e.style.width]")
    return [float(v.rstrip("%")) for v in style]


@pytest.mark.parametrize("verdict", ["real", "uncertain", "fake"])
def test_each_verdict_has_its_colour_reason_band_and_confidence(page_at, card_live, probe, verdict):
    path, p = probe
    lv = card_live(**cards(p)[verdict])
    status, direct = api_answer(lv, path.read_bytes())
    assert status == 200 and direct["verdict"] == verdict, direct  # the card decides, as intended
    low, high = direct["uncertain_band"]
    assert high > low

    page = page_at(lv.url)
    page.set_input_files("#file", str(path))
    wait_history(page, 1)
    card = page.locator("[data-testid=verdict]")
    assert card.get_attribute("data-verdict") == verdict
    assert page.inner_text("[data-testid=verdict] .badge") == verdict.upper()
    assert page.eval_on_selector("[data-testid=verdict] .badge", "e => getComputedStyle(e).backgroundColor") == COLOURS[verdict]
    reason = page.inner_text("[data-testid=verdict-reason]")
    assert direct["verdict_reason"] in reason  # why, in the API's words
    if verdict == "uncertain":
        assert "cannot tell real from fake" in reason and "read it as neither" in reason  # what it means
        assert "close to the threshold" in reason
    # the bar: the band from this answer (never a constant), the threshold, the probability
    assert left_width(page, "[data-testid=uncertain-band]") == pytest.approx([100 * low, 100 * (high - low)])
    assert page.locator("[data-testid=uncertain-band]").is_visible()
    marker = page.eval_on_selector("[data-testid=threshold-marker]", "e => e.style.left")
    assert float(marker.split("calc(", 1)[1].split("%", 1)[0]) == pytest.approx(100 * direct["threshold"])
    assert float(page.get_attribute("[data-testid=probability-bar]", "aria-valuenow")) == pytest.approx(
        100 * direct["fake_probability"], abs=0.051)
    assert f"uncertain {100 * low:.0f}%–{100 * high:.0f}%" in page.inner_text("#result")
    # Confidence: words for the distance from the threshold (docs/page.md), not a second probability
    level, words = expected_confidence(direct)
    assert page.get_attribute("[data-testid=confidence]", "data-level") == level
    assert page.inner_text("[data-testid=confidence]") == words
    if verdict == "uncertain":
        assert level == "low"
    # the same colour everywhere: face box, face panel, history, chart
    assert page.get_attribute("[data-testid=face-box]", "data-verdict") == verdict
    assert page.get_attribute("[data-testid=face-verdict]", "data-verdict") == verdict
    assert page.eval_on_selector("[data-testid=face-verdict]", "e => getComputedStyle(e).backgroundColor") == COLOURS[verdict]
    assert page.inner_text("[data-testid=face-reason]") == direct["faces"][0]["verdict_reason"]
    pill = page.locator("#history .pill")
    assert pill.inner_text() == verdict.upper()
    assert pill.evaluate("e => getComputedStyle(e).backgroundColor") == COLOURS[verdict]
    point = page.locator("[data-testid=chart-point]")
    assert point.get_attribute("data-verdict") == verdict
    assert point.evaluate("e => getComputedStyle(e).fill") == COLOURS[verdict]
    assert page.locator("[data-testid=chart-band]").count() == 1
    assert f"1 {verdict.upper()}" in page.text_content("#chart desc")
    assert not page.errors, page.errors
    shot(page, f"verdict-{verdict}")


def test_a_card_without_a_band_draws_none(page_at, live):
    """The shipped card (model 2.1.0) has no verdict_policy: the answer's band is [t, t]; the page
    says so and draws no band (a model 3.0 card with a band needs no page change)."""
    page = page_at(live.url)
    face = sorted((FACES / "mesonet-df" / "real").glob("*.jpg"))[0]
    status, direct = api_answer(live, face.read_bytes())
    assert status == 200
    page.set_input_files("#file", str(face))
    wait_history(page, 1)
    low, high = direct["uncertain_band"]
    if high > low:  # a served card with a band (e.g. DETECT_TEST_MODEL=model 3.0)
        assert page.locator("[data-testid=uncertain-band]").is_visible()
        assert page.locator("[data-testid=chart-band]").count() == 1
    else:
        assert page.locator("[data-testid=uncertain-band]").is_hidden()
        assert page.locator("[data-testid=chart-band]").count() == 0
        assert "no uncertain band" in page.inner_text("[data-testid=band-note]")
    assert page.get_attribute("[data-testid=verdict]", "data-verdict") == direct["verdict"]


def test_rejected_file_after_a_good_one_leaves_nothing_of_the_old_result(page_at, live, tmp_path):
    page = page_at(live.url)
    good = sorted((FACES / "mesonet-df" / "fake").glob("*.jpg"))[0]
    page.set_input_files("#file", str(good))
    wait_history(page, 1)
    page.wait_for_selector("[data-testid=face-box]")
    assert good.name in page.inner_text("#result")
    assert page.locator("#face-panel").is_visible()

    # too large: checked in the browser, never sent
    limit = page.evaluate("window.detectorPage.config.maxImageBytes")
    sent = len([u for u in page.requests_seen if u.endswith("/predict")])
    page.set_input_files("#file", files=[{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff" * (limit + 1)}])
    page.wait_for_selector("#alert:not([hidden])")
    assert "Image too large" in page.inner_text("#alert-title") and "huge.jpg" in page.inner_text("#alert")
    # one byte over: the message gives the exact sizes, not "4.5 MB; the limit is 4.5 MB"
    assert f"is {limit + 1:,} bytes; the limit is {limit:,} bytes" in page.inner_text("#alert")
    assert len([u for u in page.requests_seen if u.endswith("/predict")]) == sent
    result = page.inner_text("#result")
    assert good.name not in result and "huge.jpg" in result and "was not sent" in result
    assert page.locator("[data-testid=verdict]").count() == 0
    assert page.locator("#preview").is_hidden() and page.get_attribute("#preview-img", "src") is None
    assert page.locator("[data-testid=face-box]").count() == 0
    assert page.locator("#face-panel").is_hidden()
    assert page.locator("[data-testid=metadata]").count() == 0
    assert good.name not in page.inner_text("main").replace(page.inner_text("#history-panel"), "")
    # the session keeps it; nothing marks it as the one shown
    assert page.locator("#history li").count() == 1
    assert page.get_attribute("#history li button", "aria-current") == "false"
    shot(page, "rejected-after-result")

    # the history row shows it again, and the message about the other file goes
    page.click("#history li button")
    assert good.name in page.inner_text("#result") and page.locator("#alert").is_hidden()
    assert page.locator("#preview").is_visible() and page.locator("[data-testid=face-box]").count() == 1

    # a file the API rejects (415): its own preview, no result, no face panel of the old image
    notes = tmp_path / "notes.jpg"
    notes.write_bytes(b"not a photo\n" * 40)
    page.set_input_files("#file", str(notes))
    page.wait_for_selector("#alert:not([hidden])")
    assert "HTTP 415" in page.inner_text("#alert")
    assert good.name not in page.inner_text("#result") and "notes.jpg" in page.inner_text("#result")
    assert page.inner_text("#file-info").startswith("notes.jpg")
    assert page.locator("[data-testid=face-box]").count() == 0 and page.locator("#face-panel").is_hidden()
    assert not page.errors, page.errors


def test_no_face_is_uncertain_and_the_whole_image_gets_the_heatmap(page_at, live, tmp_path):
    """With no face the API answers uncertain whatever the card says; the face panel shows the
    whole image as judged, with the heatmap over all of it."""
    import numpy as np

    import faces_support as fs

    path = tmp_path / "no-face.jpg"
    fs.background(900, 700, np.random.default_rng(9)).save(path, "JPEG", quality=92)
    page = page_at(live.url)
    page.set_input_files("#file", str(path))
    wait_history(page, 1)
    answer = page.evaluate("window.detectorPage.history()")[0]
    assert answer["faces"] == [] and answer["verdict"] == "uncertain"
    assert page.get_attribute("[data-testid=verdict]", "data-verdict") == "uncertain"
    assert answer["verdict_reason"] in page.inner_text("[data-testid=verdict-reason]")
    assert page.inner_text("[data-testid=confidence]") == "Low: the answer is uncertain"
    assert "No face found" in page.inner_text("[data-testid=faces-summary]")
    assert page.locator("[data-testid=face-box]").count() == 0
    assert page.inner_text("#face-panel-h").startswith("The whole image")
    assert page.locator("#face-list").is_hidden()
    assert page.get_attribute("[data-testid=face-zoom]", "viewBox") == "0 0 900 700"
    page.click("[data-testid=heatmap-toggle]")
    heat = page.locator("[data-testid=face-zoom] [data-testid=heatmap]")
    heat.wait_for(state="attached", timeout=60_000)
    explain = page.evaluate("window.detectorPage.history()")[0]["explain"]
    assert explain["face"] is None
    expected = sum(1 for row in explain["values"] for v in row
                   if explain["max_abs"] > 0 and abs(v) / explain["max_abs"] * 0.65 >= 0.02)
    assert heat.locator("rect.heat-cell").count() == expected
    assert page.locator("[data-testid=heatmap-legend]").is_visible()
    assert "covering that part of the image lowers P(fake)" in page.inner_text("[data-testid=heatmap-legend]")
    assert not page.errors, page.errors
    shot(page, "verdict-no-face")
