"""A group photo in real Chromium, against the gateway and the real handler with the face models:
faces numbered in reading order (left to right, top to bottom) with their tags outside every face
box, a face too small to judge shown UNCERTAIN, the face panel (choose a face on the image, in the
list or by keyboard: it is shown enlarged with its own verdict and probability), and the heatmap
(the API's occlusion map of the face that decides the verdict) drawn over the enlarged face with
its legend; then the same at 390 px wide without sideways scrolling.
Screenshots: artifacts/screenshots/faces-multi.png, faces-heatmap.png, faces-phone.png.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import faces_support as fs
from test_page_browser import browser, card_live, page_at, shot, wait_history  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

MIN_FACE_SIDE = 90  # the card's verdict_policy.min_face_side for this test
# where each face goes on a 1600 x 1200 photo (x0, y0, side of the pasted file), in reading order:
# two rows, the second row's faces not level, one face small enough to be "too small to judge"
LAYOUT = [(140, 110, 300), (880, 190, 280), (260, 720, 120), (1050, 640, 330)]


def group_photo(path):
    """Four test-split faces (real and fake, two sets) pasted at LAYOUT on a face-free background."""
    picks = []
    for name, kind in (("ffhq-stylegan", "real"), ("lfw-faceswap", "fake"), ("ffhq-stylegan", "fake"), ("lfw-faceswap", "real")):
        picks.append(next(p for s, p, label in fs.test_split((name,)) if label == (kind == "fake")))
    img = fs.background(1600, 1200, np.random.default_rng(11))
    pasted = []
    for file, (x0, y0, side) in zip(picks, LAYOUT):
        face = Image.open(file).convert("RGB")
        h = round(side * face.size[1] / face.size[0])
        img.paste(face.resize((side, h), Image.Resampling.LANCZOS), (x0, y0))
        pasted.append({"path": file, "box": (x0, y0, x0 + side, y0 + h)})
    img.save(path, "JPEG", quality=92)
    return pasted


def overlap(a, b):
    return (min(a["x"] + a["width"], b["x"] + b["width"]) > max(a["x"], b["x"])
            and min(a["y"] + a["height"], b["y"] + b["height"]) > max(a["y"], b["y"]))


def check_tags_outside_faces(page):
    """Every number tag lies on the preview and covers no face box (on screen, at this width)."""
    stage = page.locator("#stage").bounding_box()
    boxes = [b.bounding_box() for b in page.locator("[data-testid=face-box]").all()]
    for tag in page.locator("[data-testid=face-label]").all():
        t = tag.bounding_box()
        assert t and t["width"] > 8
        assert stage["x"] - 0.5 <= t["x"] and t["x"] + t["width"] <= stage["x"] + stage["width"] + 0.5
        assert stage["y"] - 0.5 <= t["y"] and t["y"] + t["height"] <= stage["y"] + stage["height"] + 0.5
        for b in boxes:
            assert not overlap(t, b), (tag.text_content(), t, b)


def test_group_photo_numbering_face_panel_and_heatmap(page_at, card_live, model_card, tmp_path):
    t = model_card["threshold"]
    lv = card_live(verdict_policy={"uncertain_band": [t, t], "min_face_side": MIN_FACE_SIDE, "rule": "test"})
    path = tmp_path / "group.jpg"
    pasted = group_photo(path)

    page = page_at(lv.url)
    page.set_input_files("#file", str(path))
    wait_history(page, 1, timeout=60_000)
    page.wait_for_selector("[data-testid=face-box]")
    answer = page.evaluate("window.detectorPage.history()")[0]
    faces = answer["faces"]
    assert len(faces) == 4, faces
    found = fs.match([f["box"] for f in faces], pasted)  # API index of each pasted face, in LAYOUT order
    assert None not in found and len(set(found)) == 4, found

    # numbered in reading order, whatever order the API lists them in
    boxes = page.locator("[data-testid=face-box]")
    assert boxes.count() == 4
    for n, api_index in enumerate(found, start=1):
        box = page.locator(f"[data-testid=face-box][data-n='{n}']")
        assert box.get_attribute("data-face") == str(api_index)
        assert box.get_attribute("data-verdict") == faces[api_index]["verdict"]
        assert box.locator("[data-testid=face-label]").text_content().startswith(f"#{n}")
        # the button sits on the face: its box, in % of the image
        left, top = box.evaluate("e => [parseFloat(e.style.left), parseFloat(e.style.top)]")
        assert left == pytest.approx(100 * faces[api_index]["box"][0] / 1600, abs=1e-3)
        assert top == pytest.approx(100 * faces[api_index]["box"][1] / 1200, abs=1e-3)
    check_tags_outside_faces(page)

    # the small face is too small to judge: UNCERTAIN, amber, and it says why
    small = found[2]
    side = max(faces[small]["box"][2] - faces[small]["box"][0], faces[small]["box"][3] - faces[small]["box"][1])
    assert side < MIN_FACE_SIDE
    assert faces[small]["verdict"] == "uncertain"
    assert page.get_attribute("[data-testid=face-box][data-n='3']", "data-verdict") == "uncertain"

    # the face that decides the verdict: starred, named in the summary, shown first in the panel
    judged = answer["verdict_source"]["face"]
    judged_n = found.index(judged) + 1
    assert judged != small
    assert "\u2605" in page.locator(f"[data-testid=face-box][data-n='{judged_n}'] [data-testid=face-label]").text_content()
    assert f"the verdict is face #{judged_n}'s" in page.inner_text("[data-testid=faces-summary]")
    assert page.inner_text("[data-testid=face-title]").startswith(f"Face #{judged_n}")
    rows = page.locator("[data-testid=face-row]")
    assert [rows.nth(i).get_attribute("data-n") for i in range(4)] == ["1", "2", "3", "4"]
    for i in range(4):
        assert rows.nth(i).locator(".pill").inner_text() == faces[found[i]]["verdict"].upper()
    shot(page, "faces-multi")

    # click a face on the image: it is shown enlarged with its own verdict, reason and probability
    page.click("[data-testid=face-box][data-n='3']")
    assert page.get_attribute("[data-testid=face-box][data-n='3']", "aria-pressed") == "true"
    assert page.inner_text("[data-testid=face-title]").startswith("Face #3")
    assert page.get_attribute("[data-testid=face-verdict]", "data-verdict") == "uncertain"
    assert "too small to judge" in page.inner_text("[data-testid=face-reason]")
    assert float(page.get_attribute("[data-testid=face-probability-bar]", "aria-valuenow")) == pytest.approx(
        100 * faces[small]["fake_probability"], abs=0.051)
    zoom_box = page.locator("[data-testid=face-zoom] [data-testid=zoom-box]")
    assert [float(zoom_box.get_attribute(a)) for a in ("x", "y")] == faces[small]["box"][:2]
    assert page.get_attribute("[data-testid=face-zoom] image", "href") == page.get_attribute("#preview-img", "src")
    shown = zoom_box.bounding_box()
    on_preview = page.locator("[data-testid=face-box][data-n='3']").bounding_box()
    assert shown["width"] > 3 * on_preview["width"]  # enlarged
    # ... not the face that was explained: the panel says which one is, and no heatmap here
    assert f"(#{judged_n}) only" in page.inner_text("[data-testid=heatmap-elsewhere]")
    assert page.locator("[data-testid=face-zoom] [data-testid=heatmap]").count() == 0

    # a row of the list does the same
    page.click(f"[data-testid=face-row][data-n='{judged_n}']")
    assert page.inner_text("[data-testid=face-title]").startswith(f"Face #{judged_n}")
    assert page.get_attribute(f"[data-testid=face-box][data-n='{judged_n}']", "aria-pressed") == "true"

    # the keyboard reaches every face, in reading order, and Enter / Space choose it
    page.focus("#file")
    for n in (1, 2):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.n") == str(n)
    page.keyboard.press("Enter")
    assert page.inner_text("[data-testid=face-title]").startswith("Face #2")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.inner_text("[data-testid=face-title]").startswith("Face #3")
    page.focus("[data-testid=face-row][data-n='1']")
    page.keyboard.press("Enter")
    assert page.inner_text("[data-testid=face-title]").startswith("Face #1")

    # heatmap: not asked with the upload (it costs ~64 inferences); the toggle on the deciding face
    # asks the API again with explain: true and draws one cell per non-negligible value over the
    # enlarged face's judged square
    assert "explain" not in answer
    page.click(f"[data-testid=face-row][data-n='{judged_n}']")
    page.click("[data-testid=heatmap-toggle]")
    heat = page.locator("[data-testid=face-zoom] [data-testid=heatmap]")
    heat.wait_for(state="attached", timeout=60_000)
    assert heat.get_attribute("visibility") == "visible"
    assert page.get_attribute("[data-testid=heatmap-toggle]", "aria-pressed") == "true"
    explain = page.evaluate("window.detectorPage.history()")[0]["explain"]
    assert explain["face"] == judged and explain["grid"] >= 4
    expected = sum(1 for row in explain["values"] for v in row
                   if explain["max_abs"] > 0 and abs(v) / explain["max_abs"] * 0.65 >= 0.02)
    cells = heat.locator("rect.heat-cell")
    assert cells.count() == expected > 0
    crop = faces[judged]["crop"]
    for i in (0, cells.count() - 1):
        x, y = float(cells.nth(i).get_attribute("x")), float(cells.nth(i).get_attribute("y"))
        assert crop[0] <= x < crop[2] and crop[1] <= y < crop[3]
    # drawn over the enlarged face, large enough to read (the preview's box is a few dozen px)
    square = page.locator("[data-testid=face-zoom] [data-testid=zoom-crop]").bounding_box()
    zoom = page.locator("[data-testid=face-zoom]").bounding_box()
    assert square["width"] >= 100 and zoom["x"] <= square["x"] and square["x"] + square["width"] <= zoom["x"] + zoom["width"] + 1
    on_preview = page.locator(f"[data-testid=face-box][data-n='{judged_n}']").bounding_box()
    assert square["width"] > 2 * on_preview["width"] * (crop[2] - crop[0]) / (faces[judged]["box"][2] - faces[judged]["box"][0])
    legend = page.locator("[data-testid=heatmap-legend]")
    assert legend.is_visible()
    text = legend.inner_text()
    assert "toward REAL" in text and "toward FAKE" in text and f"{explain['grid']}\u00d7{explain['grid']} cells" in text
    toggle = page.locator("[data-testid=heatmap-toggle]").bounding_box()
    lb = legend.bounding_box()
    assert lb["y"] >= toggle["y"] + toggle["height"] - 1 and lb["width"] >= 150  # its own full line
    shot(page, "faces-heatmap")
    page.click("[data-testid=heatmap-toggle]")
    assert heat.get_attribute("visibility") == "hidden" and legend.count() == 0

    # a phone: one column, no sideways scrolling, tags still off the faces, the panel readable
    page.click("[data-testid=heatmap-toggle]")  # on again (no second request: the map is kept)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    check_tags_outside_faces(page)
    zoom = page.locator("[data-testid=face-zoom]").bounding_box()
    assert zoom["width"] >= 200 and zoom["x"] >= 0 and zoom["x"] + zoom["width"] <= 390
    assert page.locator("[data-testid=heatmap-legend]").is_visible()
    for sel in ("#face-panel", "#result-panel"):
        b = page.locator(sel).bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= 390
    # the result comes before the faces on a phone
    assert page.locator("#result-panel").bounding_box()["y"] < page.locator("#face-panel").bounding_box()["y"]
    shot(page, "faces-phone")
    assert not page.errors, page.errors
