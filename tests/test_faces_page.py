"""The page shows the faces: a multi-face composite uploaded in real Chromium gets one labelled box
per face on the preview, and the heatmap toggle shows the explained face's occlusion map.
Screenshot: artifacts/screenshots/faces-multi.png (boxes) and faces-heatmap.png (heatmap on).
Reuses the page tests' fixtures (browser, page_at, live) with the face models switched on.
"""
from __future__ import annotations

import numpy as np
import pytest

import faces_support as fs
from test_page_browser import browser, live, page_at, shot, wait_history  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def handler(template_handler):
    """Overrides the page tests' handler (so their `live` gateway serves it): the face models on."""
    return template_handler(FACE_MODEL_DIR=fs.FACE_MODELS)


def test_multi_face_upload_shows_boxes_labels_and_heatmap(page_at, live, tmp_path):
    rng = np.random.default_rng(5)
    pool = [item for item in fs.test_split(("ffhq-stylegan", "lfw-faceswap")) if rng.random() < 0.05]
    comp = fs.compose(fs.pick_faces(rng, 3, pool), (1600, 1200), rng, side_range=(260, 420))
    path = tmp_path / "group.jpg"
    path.write_bytes(comp.jpeg())

    page = page_at(live.url)
    page.set_input_files("#file", str(path))
    wait_history(page, 1, timeout=60_000)
    page.wait_for_selector("[data-testid=face-box]")
    answer = page.evaluate("window.detectorPage.history()")[0]
    faces = answer["faces"]
    assert len(faces) == 3, faces
    assert None not in fs.match([f["box"] for f in faces], comp.pasted)

    # one box per face, each labelled with its own verdict, drawn in image pixels
    boxes = page.locator("[data-testid=face-box]")
    assert boxes.count() == 3
    assert page.get_attribute("#overlay", "viewBox") == "0 0 1600 1200"
    for i, face in enumerate(faces):
        group = boxes.nth(i)
        assert group.get_attribute("data-label") == face["label"]
        label = group.locator("[data-testid=face-label]").text_content()
        assert label.startswith(f"#{i + 1} {face['label']} {round(100 * face['fake_probability'])}%")
        rect = group.locator("rect").first
        assert [float(rect.get_attribute(a)) for a in ("x", "y")] == face["box"][:2]
        assert float(rect.get_attribute("width")) == face["box"][2] - face["box"][0]
        # the box is really on screen over the preview
        bb = rect.bounding_box()
        assert bb and bb["width"] > 5 and bb["height"] > 5
    verdict_face = answer["verdict_source"]["face"]
    assert answer["fake_probability"] == max(f["fake_probability"] for f in faces)
    assert "\u2605" in boxes.nth(verdict_face).locator("[data-testid=face-label]").text_content()
    assert "3 faces found" in page.inner_text("[data-testid=faces-summary]")
    # the chart plots the image's verdict
    point = page.locator("[data-testid=chart-point]")
    assert point.count() == 1
    shot(page, "faces-multi")

    # heatmap: the upload did not ask for it (it costs ~64 inferences); the first toggle asks the
    # API again with explain: true and draws one cell per non-negligible value over the judged crop
    assert "explain" not in answer
    heat = page.locator("[data-testid=heatmap]")
    assert heat.count() == 0
    page.click("[data-testid=heatmap-toggle]")
    heat.wait_for(state="attached", timeout=60_000)
    page.wait_for_function("document.querySelector('[data-testid=heatmap]').getAttribute('visibility') === 'visible'")
    assert page.get_attribute("[data-testid=heatmap-toggle]", "aria-pressed") == "true"
    explain = page.evaluate("window.detectorPage.history()")[0]["explain"]
    assert explain["face"] == verdict_face
    assert explain["grid"] >= 4
    expected = sum(1 for row in explain["values"] for v in row
                   if explain["max_abs"] > 0 and abs(v) / explain["max_abs"] * 0.65 >= 0.02)
    assert heat.locator("rect.heat-cell").count() == expected > 0
    crop = faces[verdict_face]["crop"]
    first = heat.locator("rect.heat-cell").first
    assert crop[0] <= float(first.get_attribute("x")) < crop[2]
    assert crop[1] <= float(first.get_attribute("y")) < crop[3]
    shot(page, "faces-heatmap")
    page.click("[data-testid=heatmap-toggle]")
    assert heat.get_attribute("visibility") == "hidden"
    assert not page.errors, page.errors
