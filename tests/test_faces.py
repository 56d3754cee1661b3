"""Face detection and face-level judging (detector/faces.py, detector/explain.py).

Uses the BlazeFace models fetched by `make face-models` into layers/model/faces/, the shared face
images, and the test model (shipped, else the smoke model: conftest's ``model_path``).
"""
from __future__ import annotations

import collections
import glob
import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image, ImageFile

import faces_support as fs
from detector import faces as F
from detector.errors import FaceModelsUnavailable, ModelUnavailable
from detector.explain import occlusion_map
from detector.model import Model
from detector.preprocess import InputSpec, decode_image, preprocess, prepare_pixels, scale_pixels
from detector.service import Detector

# |P(fake) of a face in a composite - P(fake) of the same face file uploaded alone|: the pasted copy
# is resampled and re-encoded as JPEG, found again (refined box) and cut into its face square. The
# issue's target is every face within a small tolerance. Model 2.1.0 judges a square inside the face
# box (0.85 x), so the surroundings are not in the input: on this test's 68 faces the median gap is
# 0.011, 97 % are within 0.15 and the largest is 0.166 (a generated face pasted at 4.8x its size);
# over seeds 11-13 (187 faces, scripts/faces_in_photos.py) 0.012 / 99 % / 0.166. What is left is
# the resampling and re-encoding. Labels still flip for faces near the threshold (96 % keep theirs
# here); with every gap under COMPOSITE_MAX_GAP a flip can only happen that close to it. Model
# 2.0.0 (1.2 x squares, which reached past tightly cut files: fill alone, background in a photo):
# median 0.028, max 0.41; model 1.0.0: 0.133, 0.86.
COMPOSITE_MAX_GAP = 0.2  # every face
COMPOSITE_TOLERANCE = 0.15
COMPOSITE_MAX_MEDIAN_GAP = 0.02
COMPOSITE_MIN_WITHIN = 0.95


@pytest.fixture(scope="module")
def face_detector():
    missing = [n for n in (F.SHORT_RANGE, F.FULL_RANGE) if not os.path.isfile(os.path.join(fs.FACE_MODELS, n))]
    if missing:
        pytest.fail(f"face models missing in {fs.FACE_MODELS}: {missing} (run `make face-models`)")
    return F.FaceDetector(fs.FACE_MODELS)


@pytest.fixture(scope="module")
def model(model_path):
    return Model.load(str(model_path))


@pytest.fixture(scope="module")
def service(model, face_detector):
    return Detector(model, max_bytes=20_000_000, faces=face_detector)


@pytest.fixture(scope="module")
def thorough_detector():
    """FACE_SEARCH=thorough: every photo is also searched in tiles (the search before the fast one)."""
    return F.FaceDetector(fs.FACE_MODELS, search="thorough")


@pytest.fixture(scope="module")
def thorough_service(model, thorough_detector):
    return Detector(model, max_bytes=20_000_000, faces=thorough_detector)


def counting_detector(search: str = "fast"):
    """A FaceDetector whose interpreters count their invokes: (detector, Counter by model file)."""
    from detector.model import _interpreter_class

    calls: collections.Counter = collections.Counter()

    class Counting(_interpreter_class()):
        def __init__(self, model_path, **kwargs):
            super().__init__(model_path=model_path, **kwargs)
            self.counted_as = os.path.basename(model_path)

        def invoke(self):
            calls[self.counted_as] += 1
            return super().invoke()

    return F.FaceDetector(fs.FACE_MODELS, interpreter_class=Counting, search=search), calls


def plain_probability(model: Model, data: bytes) -> float:
    """The image classified directly, as without face detection."""
    return float(model.probability(preprocess(decode_image(data, model.spec), model.spec)))


def whole_probability(model: Model, data: bytes) -> float:
    """The whole image classified from the face path's one decode (no second JPEG draft)."""
    return float(model.probability(preprocess(decode_image(data, F.face_decode_spec(model.spec)), model.spec)))


def card_variant(model_path, card, tmp_path, face_crop) -> Model:
    """The test model with its card (``card``, edited here) with ``input.face_crop`` set (a (scale,
    shift_y) pair) or removed (None): both face paths are tested whichever kind of model ships.
    Same .tflite, same sha256."""
    card["input"] = InputSpec.from_card(card)._replace(face_crop=face_crop).to_card()
    path = tmp_path / f"card-{'squares' if face_crop else 'whole'}.json"
    path.write_text(json.dumps(card))
    return Model.load(str(model_path), str(path))


@pytest.fixture
def whole_crop_service(model_path, model_card, tmp_path, face_detector):
    """A card without ``input.face_crop`` (model v1.0.0): an image that already is a face crop is judged whole."""
    return Detector(card_variant(model_path, model_card, tmp_path, None), max_bytes=20_000_000, faces=face_detector)


@pytest.fixture(params=["shipped", "wide"])
def squares_service(request, model_path, model_card, tmp_path, face_detector):
    """A card with ``input.face_crop``: every face is cut as its canonical square. "shipped": the
    shipped card's own rule (model 2.1.0: 0.85 x the box, almost always inside the file); "wide":
    1.2 x the box (model 2.0.0), whose squares reach past tightly cut files and get the fill."""
    own = InputSpec.from_card(model_card).face_crop
    crop = (1.2, 0.0) if request.param == "wide" else own or (0.85, 0.0)
    return Detector(card_variant(model_path, model_card, tmp_path, crop), max_bytes=20_000_000, faces=face_detector)


def api_probability(service, path: str) -> float:
    """What the API answers for the face file uploaded alone."""
    return service.analyze(open(path, "rb").read())["fake_probability"]


# --------------------------------------------------------------------------- units
def test_anchors_match_mediapipe_layouts(face_detector):
    short = F.generate_anchors(F.SSD_SHORT)
    full = F.generate_anchors(F.SSD_FULL)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # short range: 16x16 grid x 2 anchors, then 8x8 x 6 (three stride-16 layers, two each)
    assert np.allclose(short[0], [0.5 / 16, 0.5 / 16]) and np.allclose(short[1], short[0])
    assert np.allclose(short[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(short[512], [0.5 / 8, 0.5 / 8]) and np.allclose(short[517], short[512])
    assert np.allclose(short[518], [1.5 / 8, 0.5 / 8])
    assert np.allclose(full[48], [0.5 / 48, 1.5 / 48])
    # and the loaded models' outputs have one row per anchor
    assert len(face_detector.short.anchors) == 896 and len(face_detector.full.anchors) == 2304


def test_decode_places_boxes_on_anchors_and_thresholds_scores():
    anchors = F.generate_anchors(F.SSD_SHORT)
    raw = np.zeros((1, 896, 16), np.float32)
    scores = np.full((1, 896, 1), -10.0, np.float32)
    raw[0, 100, :4] = [6.4, -12.8, 32.0, 64.0]  # dx, dy, w, h in input pixels (128)
    raw[0, 100, 4:6] = [1.28, 2.56]  # first keypoint offset
    scores[0, 100, 0] = 2.0
    scores[0, 7, 0] = 500.0  # clipped to 80, still kept
    raw[0, 7, 2:4] = [10.0, 10.0]
    scores[0, 9, 0] = 5.0  # a zero-size box is dropped whatever its score
    data, s = F.decode(raw, scores, anchors, 128)
    assert len(s) == 2
    row = data[np.argmin(np.abs(s - 1 / (1 + np.exp(-2.0))))]
    cx, cy = anchors[100] + [0.05, -0.1]
    assert np.allclose(row[:4], [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25], atol=1e-6)
    assert np.allclose(row[4:6], anchors[100] + [0.01, 0.02], atol=1e-6)
    assert np.isfinite(s).all() and s.max() <= 1.0


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    data = np.zeros((3, 16), np.float32)
    data[0, :4] = [0.10, 0.10, 0.30, 0.30]
    data[1, :4] = [0.12, 0.12, 0.32, 0.32]
    data[2, :4] = [0.60, 0.60, 0.80, 0.80]
    scores = np.array([0.9, 0.6, 0.7])
    out, s = F.weighted_nms(data, scores, 0.3)
    assert list(np.round(s, 3)) == [0.9, 0.7]
    expected = (data[0, :4] * 0.9 + data[1, :4] * 0.6) / 1.5
    assert np.allclose(out[0, :4], expected, atol=1e-6)
    assert np.allclose(out[1, :4], data[2, :4])
    # a box mostly inside a better one (a face cut by a tile edge) is dropped
    inner = np.zeros((2, 16), np.float32)
    inner[0, :4] = [0.0, 0.0, 0.4, 0.4]
    inner[1, :4] = [0.0, 0.0, 0.4, 0.15]
    kept, ks = F.suppress_contained(inner, np.array([0.9, 0.8]))
    assert len(ks) == 1 and ks[0] == 0.9


def test_crop_rule_square_inside_and_cut_to_the_image():
    # a 100 px face in the middle of a big image: a 143 px square, centred 7 px above the box
    box = F.crop_box((450, 450, 550, 550), (1000, 1000))
    assert (box[2] - box[0], box[3] - box[1]) == (143, 143)
    assert (box[0] + box[2]) / 2 == pytest.approx(500, abs=1)
    assert (box[1] + box[3]) / 2 == pytest.approx(493, abs=1)
    # at the corner: moved inside, same size
    box = F.crop_box((0, 0, 100, 100), (1000, 1000))
    assert box[0] == 0 and box[1] == 0 and box[2] - box[0] == 143 == box[3] - box[1]
    # larger than the image: cut to it
    assert F.crop_box((10, 10, 190, 190), (200, 200)) == (0, 0, 200, 200)


def test_face_square_is_centred_on_the_box_and_not_cut_to_the_image():
    square = F.face_square((450, 440, 550, 560), 1.2, -0.1)  # 100 x 120 box: side 144
    assert square == pytest.approx((428.0, 416.0, 572.0, 560.0))
    assert F.face_square(F.Face(box=(0, 0, 100, 100), score=1.0), 1.5, 0.0) == pytest.approx((-25, -25, 125, 125))


def test_cut_square_fills_outside_the_image_with_its_edge_pixels():
    arr = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    img = Image.fromarray(arr)
    crop, valid = F.cut_square(img, (-5, 4, 15, 24))  # 20 px: 5 px left of the image, 4 below it
    got = np.asarray(crop)
    assert crop.size == (20, 20) and valid == (5, 0, 20, 16)
    assert np.array_equal(got[0:16, 5:20], arr[4:20, 0:15])  # the image's part, unchanged
    assert np.array_equal(got[0:16, 0], arr[4:20, 0])  # left: the first column repeated
    assert np.array_equal(got[19, 5:20], arr[19, 0:15])  # below: the last row repeated
    mean, valid = F.cut_square(img, (-5, 4, 15, 24), pad="mean")  # the mean colour of the part inside
    got = np.asarray(mean)
    assert valid == (5, 0, 20, 16) and np.array_equal(got[0:16, 5:20], arr[4:20, 0:15])
    expected = np.round(arr[4:20, 0:15].reshape(-1, 3).mean(axis=0))
    assert np.array_equal(got[19, 0], expected) and np.array_equal(got[0, 0], expected)
    inside, valid = F.cut_square(img, (2, 2, 12, 12))
    assert valid == (0, 0, 10, 10) and np.array_equal(np.asarray(inside), arr[2:12, 2:12])


def test_face_input_maps_the_valid_part_to_model_pixels():
    spec = InputSpec(face_crop=(2.0, 0.0))
    img = Image.new("RGB", (200, 100), (10, 20, 30))
    pixels, valid, square = F.face_input(img, F.Face(box=(150, 25, 200, 75), score=0.9), spec)
    assert square == (125, 0, 225, 100)  # 100 px square, 25 px past the right edge
    assert pixels.shape == (256, 256, 3) and valid == (0, 0, 192, 256)
    assert np.array_equal(pixels, prepare_pixels(F.cut_square(img, square)[0], spec))


def test_face_crop_detection_needs_a_big_face_in_a_square_frame():
    one = [F.Face(box=(60, 50, 200, 190), score=0.9)]
    assert F.is_face_crop(one, (256, 256)) and F.main_face(one, (256, 256)) == 0
    assert not F.is_face_crop(one, (1024, 768))  # small share of the frame
    assert not F.is_face_crop(one, (256, 512))  # not near-square
    # a portrait with a small face in the background: the big face is the crop's face
    two = [F.Face(box=(10, 10, 40, 40), score=0.95), one[0]]
    assert F.main_face(two, (256, 256)) == 1
    assert F.main_face([], (256, 256)) is None


def test_full_range_model_is_loaded_only_when_a_photo_needs_it(shared_faces):
    """An aligned face crop is searched with the short-range model alone (the cold start of a crop
    upload never loads the full-range model); a small image that is not a face crop, and a photo
    >= TILE_MIN_LONG_SIDE px whose whole-frame pass does not end the search, bring it in."""
    detector = F.FaceDetector(fs.FACE_MODELS)
    assert detector._full is None
    crop = Image.open(sorted(glob.glob(str(shared_faces / "ffhq-stylegan" / "real" / "*.jpg")))[0]).convert("RGB")
    faces = detector.detect(crop)
    assert F.is_face_crop(faces, crop.size)
    assert detector._full is None, "a face crop loaded the full-range model"
    # a 480x360 scene whose one face is 60 px wide: not a crop, so the full-range model searches too
    rng = np.random.default_rng(5)
    face = sorted(glob.glob(str(shared_faces / "ffhq-stylegan" / "real" / "*.jpg")))[3]
    scene = fs.compose([(face, 0)], (480, 360), rng, side_range=(60, 60))
    found = detector.detect(scene.image)
    assert detector._full is not None
    assert None not in fs.match([f.box for f in found], scene.pasted)


def test_missing_face_model_is_a_face_models_unavailable_error_at_load(tmp_path):
    shutil.copy(os.path.join(fs.FACE_MODELS, F.SHORT_RANGE), tmp_path / F.SHORT_RANGE)
    with pytest.raises(FaceModelsUnavailable, match=F.FULL_RANGE) as missing:
        F.FaceDetector(str(tmp_path))
    assert (missing.value.status, missing.value.code) == (503, "face_models_unavailable")
    assert isinstance(missing.value, ModelUnavailable) and str(tmp_path) in missing.value.message
    (tmp_path / F.FULL_RANGE).write_bytes(b"not a tflite model")
    detector = F.FaceDetector(str(tmp_path))  # present: loaded on first use
    with pytest.raises(FaceModelsUnavailable, match="could not be loaded"):
        detector.full
    with pytest.raises(ValueError, match="thorough"):
        F.FaceDetector(fs.FACE_MODELS, search="quick")


# --------------------------------------------------------------------------- detection rate
def test_ffhq_real_faces_found(face_detector, shared_faces):
    files = sorted(glob.glob(str(shared_faces / "ffhq-stylegan" / "real" / "*.jpg")))
    assert len(files) == 500
    missed = []
    for path in files:
        img = Image.open(path).convert("RGB")
        faces = face_detector.detect(img)
        w, h = img.size
        # the face must be the one in the middle of the aligned crop, not any detection
        if not any(F.Face(box=f.box, score=f.score).width > 0.3 * w
                   and abs((f.box[0] + f.box[2]) / 2 - w / 2) < 0.2 * w for f in faces):
            missed.append(os.path.basename(path))
    rate = 1 - len(missed) / len(files)
    print(f"ffhq-stylegan real: {len(files) - len(missed)}/{len(files)} faces found ({rate:.1%}); missed {missed[:10]}")
    assert rate >= 0.98, missed


# --------------------------------------------------------------------------- no face
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_face_image_is_judged_whole(service, model, seed, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    size = [(1600, 1200), (800, 800), (300, 200)][seed]
    img = fs.background(*size, rng)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    decodes = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        if self.tile:  # compressed data still to decode
            decodes.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    answer = service.analyze(data)
    monkeypatch.undo()
    assert len(decodes) == 1, f"the upload was decoded {len(decodes)} times: {decodes}"
    assert answer["faces"] == []
    assert answer["verdict_source"]["rule"] == "whole_image" and answer["verdict_source"]["face"] is None
    assert "No face" in answer["verdict_source"]["note"]
    # the whole image from the face path's decode (a large JPEG is not decoded a second time)
    assert answer["fake_probability"] == pytest.approx(round(whole_probability(model, data), 6), abs=1e-6)
    assert answer["label"] == model.label(answer["fake_probability"])


def test_whole_crop_card_judges_an_aligned_face_crop_exactly_like_the_plain_path(whole_crop_service, shared_faces):
    model = whole_crop_service.model
    for path in sorted(glob.glob(str(shared_faces / "ffhq-stylegan" / "fake" / "*.jpg")))[:5]:
        data = open(path, "rb").read()
        answer = whole_crop_service.analyze(data)
        assert len(answer["faces"]) == 1
        assert answer["verdict_source"]["rule"] == "face_crop_whole"
        assert answer["fake_probability"] == pytest.approx(round(plain_probability(model, data), 6), abs=1e-6)
        assert answer["faces"][0]["fake_probability"] == answer["fake_probability"]


def test_squares_card_judges_an_aligned_face_crop_like_training_and_evaluation(squares_service, shared_faces):
    """A face crop uploaded alone is cut into its square like any face: the API's answer is the
    model on exactly the pixels training and `converter evaluate` use (faces.file_face_pixels)."""
    model = squares_service.model
    paths = (sorted(glob.glob(str(shared_faces / "ffhq-stylegan" / "fake" / "*.jpg")))[:3]
             + sorted(glob.glob(str(shared_faces / "generated-faces" / "real" / "*.jpg")))[:3])
    reaching_out = 0
    for path in paths:
        answer = squares_service.analyze(open(path, "rb").read())
        assert len(answer["faces"]) >= 1
        assert answer["verdict_source"]["rule"] == "most_fake_face"
        pixels, valid = F.file_face_pixels(path, model.spec, squares_service.faces)
        largest = max(answer["faces"], key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
        assert largest["fake_probability"] == pytest.approx(model.probability(scale_pixels(pixels, model.spec)), abs=1e-6)
        W, H = answer["image"]["width"], answer["image"]["height"]
        x0, y0, x1, y1 = largest["crop"]
        assert x1 - x0 == y1 - y0  # a square, not cut to the image
        reaching_out += x0 < 0 or y0 < 0 or x1 > W or y1 > H
        assert (valid != (0, 0, 256, 256)) == (x0 < 0 or y0 < 0 or x1 > W or y1 > H)
    if model.spec.face_crop[0] >= 1.2:  # UTKFace reals fill their frame: wide squares reach outside (filled)
        assert reaching_out


def test_a_face_gets_the_same_box_alone_and_pasted_into_a_photo(face_detector):
    """Refinement (every face re-measured by the short-range model on a window of 2x its box):
    the box of a face found in a photo (tiles, both models) matches the box of the same face file
    alone (a crop: short-range only), so both are cut into the same square. Measured on 27 faces:
    largest edge difference median 0.030 / p90 0.049 of the box side (0.074 / 0.211 unrefined)."""
    rng = np.random.default_rng(3)
    items = [item for item in fs.test_split() if rng.random() < 0.01]
    diffs = []
    for name, path, label in items:
        img = Image.open(path).convert("RGB")
        faces = face_detector.detect(img)
        if not faces:
            continue
        alone = faces[F.largest_face(faces)]
        photo = fs.compose([(path, label)], (1600, 1200), rng, side_range=(200, 450))
        found = face_detector.detect(photo.image)
        i = fs.match([f.box for f in found], photo.pasted)[0]
        assert i is not None, path
        x0, y0, x1, _ = photo.pasted[0]["box"]
        back = (np.asarray(found[i].box) - [x0, y0, x0, y0]) * img.size[0] / (x1 - x0)
        diffs.append(float(np.abs(back - np.asarray(alone.box)).max()) / max(alone.width, alone.height))
    assert len(diffs) >= 20
    assert np.median(diffs) <= 0.045 and np.percentile(diffs, 90) <= 0.08, sorted(diffs)


# --------------------------------------------------------------------------- the search's work
def test_training_files_keep_their_face_boxes(face_detector, model, shared_faces):
    """The classifier is trained on the face squares of FaceDetector.detect's boxes (the largest face
    of each training file, faces.file_face_pixels). tests/data/face_boxes.json holds the boxes the
    detector of commit 58d9627 (before the fast search) gave 300 shared files, 60 of each set
    (scripts/face_box_snapshot.py): the search must give the same faces and boxes. The shared files
    are all under TILE_MIN_LONG_SIDE px, where the search did not change; on this machine the
    boxes are bit-identical, the tolerance is for another CPU's float rounding."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("face_box_snapshot",
                                                  os.path.join(fs.REPO, "scripts", "face_box_snapshot.py"))
    snapshot_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snapshot_script)
    with open(os.path.join(fs.HERE, "data", "face_boxes.json"), encoding="utf-8") as fh:
        snapshot = json.load(fh)
    assert len(snapshot["files"]) == 300
    assert {rel.split("/")[0] for rel in snapshot["files"]} == {
        "ffhq-stylegan", "generated-faces", "lfw-faceswap", "mesonet-df", "portraits-t2i"}
    worst, changed = 0.0, []
    for rel, expected in snapshot["files"].items():
        got = snapshot_script.boxes(face_detector, model.spec, str(shared_faces / rel))
        if len(got) != len(expected):
            changed.append(f"{rel}: {len(expected)} faces -> {len(got)}")
            continue
        diff = float(np.abs(np.subtract(got, expected)).max()) if got else 0.0
        worst = max(worst, diff)
        if diff > 0.5:
            changed.append(f"{rel}: boxes moved by {diff:.2f} px: {expected} -> {got}")
    print(f"face boxes of {len(snapshot['files'])} training files: largest difference {worst:.3f} px")
    assert not changed, changed


def test_a_large_single_face_photo_is_searched_with_one_detector_pass(model, shared_faces):
    """A 12 MP photo with one face: one short-range invoke on the whole frame finds it, one more
    re-measures its box (the refinement every face gets, so its box and square are the ones a face
    crop gets: test_training_files_keep_their_face_boxes). No tiles, and the full-range model is
    never even loaded. The thorough search (FACE_SEARCH=thorough) does the 2x2 tiles with both
    models as well: 10 invokes."""
    rng = np.random.default_rng(21)
    path = sorted(glob.glob(str(shared_faces / "ffhq-stylegan" / "real" / "*.jpg")))[7]
    photo = fs.compose([(path, 0)], (4000, 3000), rng, side_range=(1500, 1600))  # the face: ~1/4 of the width
    data = photo.jpeg(90)
    for search, expected in (("fast", {F.SHORT_RANGE: 2}), ("thorough", {F.SHORT_RANGE: 6, F.FULL_RANGE: 4})):
        detector, calls = counting_detector(search)
        answer = Detector(model, max_bytes=20_000_000, faces=detector).analyze(data)
        assert None not in fs.match([f["box"] for f in answer["faces"]], photo.pasted)
        assert len(answer["faces"]) == 1, answer["faces"]
        x0, _, x1, _ = answer["faces"][0]["box"]
        assert (x1 - x0) / 4000 >= F.STOP_SHARE + 0.03  # a portrait's face, clearly
        assert dict(calls) == expected, (search, dict(calls))
        if search == "fast":
            assert detector._full is None, "the fast search loaded the full-range model"
            fast_box = answer["faces"][0]["box"]
        else:  # the same face, the same box up to a few px (refined from a merged first box)
            assert np.abs(np.subtract(answer["faces"][0]["box"], fast_box)).max() <= 0.05 * (fast_box[2] - fast_box[0])


def test_the_fast_search_finds_single_faces_as_the_thorough_one_does(face_detector, thorough_detector):
    """One face pasted at 150-1000 px into 1600x1200 photos: the fast search finds every face the
    thorough search finds, with the same box up to the refinement's jitter (measured on 258 such
    photos: median 0.000, max 0.061 of the box side; without the score and refinement checks a
    whole-frame box around hair and shoulders was kept, 0.7-2.3 box sides off)."""
    rng = np.random.default_rng(8)
    items = [item for item in fs.test_split() if rng.random() < 0.03]
    diffs, extra = [], 0
    for name, path, label in items:
        photo = fs.compose([(path, label)], (1600, 1200), rng, side_range=(150, 1000))
        img = Image.open(io.BytesIO(photo.jpeg())).convert("RGB")
        fast, thorough = face_detector.detect(img), thorough_detector.detect(img)
        i, j = fs.match([f.box for f in fast], photo.pasted)[0], fs.match([f.box for f in thorough], photo.pasted)[0]
        assert j is not None, path
        assert i is not None, (path, fast, thorough[j])
        a, b = fast[i], thorough[j]
        diffs.append(float(np.abs(np.subtract(a.box, b.box)).max()) / max(b.width, b.height))
        extra += len(fast) - 1
    print(f"fast vs thorough on {len(diffs)} photos: box edge difference / side median {np.median(diffs):.3f}, "
          f"max {max(diffs):.3f}; {extra} other detections (not pasted faces) in the fast answers")
    assert len(diffs) >= 35
    assert np.median(diffs) <= 0.02 and max(diffs) <= 0.08, sorted(diffs)


def test_the_fast_search_on_group_photos_stops_only_on_a_clear_face(face_detector, thorough_detector):
    """Group photos (2-4 faces at 9-30 % of the long side): the thorough search finds every face;
    the fast one reports a subset of those faces (same boxes), fewer only when its whole-frame pass
    found a face it may stop on (>= DEFAULT_MIN_FACE_SIDE px and STOP_SHARE of the long side, score
    >= STOP_SCORE; the refined box may be a little smaller). That is the cost of the fast search
    (FACE_SEARCH=fast): faces the whole frame shows too small for the short-range model (below
    ~20 % of the long side) are missed beside a portrait's face; over seeds 11-13, 167 of 187 faces
    were found (thorough: 187; stopping on any clear face of 48 px and more: 145)."""
    pasted = found_fast = 0
    for comp in fs.composites(20, seed=12, detector=face_detector):
        img = Image.open(io.BytesIO(comp.jpeg())).convert("RGB")
        fast, thorough = face_detector.detect(img), thorough_detector.detect(img)
        matched_thorough = fs.match([f.box for f in thorough], comp.pasted)
        assert None not in matched_thorough, (comp.pasted, thorough)
        matched_fast = fs.match([f.box for f in fast], comp.pasted)
        pasted += len(comp.pasted)
        found_fast += sum(i is not None for i in matched_fast)
        for i, j in zip(matched_fast, matched_thorough):
            if i is not None:
                assert np.abs(np.subtract(fast[i].box, thorough[j].box)).max() <= 0.08 * thorough[j].width
        if None in matched_fast:  # it stopped on a portrait's face
            side = max(F.DEFAULT_MIN_FACE_SIDE, F.STOP_SHARE * max(img.size))
            assert any(f.score >= F.STOP_SCORE and max(f.width, f.height) >= 0.95 * side for f in fast), fast
    print(f"group photos, seed 12: the fast search found {found_fast} of {pasted} faces (thorough: all)")
    assert found_fast >= 0.6 * pasted


# --------------------------------------------------------------------------- composites
def test_composites_every_face_found_and_judged_like_its_plain_crop(thorough_service, model):
    """Every pasted face is found; each face's P(fake) is the model's answer on the crop the API
    reports; the image's verdict is the most-fake face. Against the same face file uploaded alone
    (the API's answer) every face's P(fake) is within COMPOSITE_MAX_GAP, so a face can change label
    only when both its probabilities lie that close to the threshold (printed for the record)."""
    service = thorough_service  # FACE_SEARCH=thorough: every face (the fast search: the test above)
    deltas: dict[str, list[float]] = {}
    agree = []
    for comp in fs.composites(20, seed=11, detector=service.faces):
        data = comp.jpeg()
        answer = service.analyze(data)
        W, H = comp.image.size
        assert (answer["image"]["width"], answer["image"]["height"]) == (W, H)
        boxes = [f["box"] for f in answer["faces"]]
        matched = fs.match(boxes, comp.pasted)
        assert None not in matched, (comp.pasted, answer["faces"])
        upright = Image.open(io.BytesIO(data)).convert("RGB")
        for p, i in zip(comp.pasted, matched):
            face = answer["faces"][i]
            if min(W, H) < 2 * F.FACE_DECODE_SIDE:  # decoded at full size: the crop is exact
                if model.spec.face_crop:  # the face's square, filled (card's pad) where it reaches outside
                    x = scale_pixels(prepare_pixels(F.cut_square(upright, face["crop"], model.spec.face_pad)[0], model.spec),
                                     model.spec)
                else:
                    x = preprocess(upright.crop(tuple(face["crop"])), model.spec)
                assert face["fake_probability"] == pytest.approx(model.probability(x), abs=2e-6)
            plain = api_probability(service, p["path"])
            name = p["path"].split(os.sep)[-3]
            deltas.setdefault(name, []).append(abs(face["fake_probability"] - plain))
            agree.append(model.label(face["fake_probability"]) == model.label(plain))
        # the image's verdict is the most-fake face
        probs = [f["fake_probability"] for f in answer["faces"]]
        assert answer["fake_probability"] == max(probs)
        assert answer["verdict_source"]["rule"] == "most_fake_face"
        assert answer["verdict_source"]["face"] == int(np.argmax(probs))
        assert answer["label"] == model.label(answer["fake_probability"])
    every = np.concatenate([np.asarray(v) for v in deltas.values()])
    within = float(np.mean(every <= COMPOSITE_TOLERANCE))
    print(f"composites: {len(every)} faces, all found; |P(fake) - plain| median {np.median(every):.3f}, "
          f"within {COMPOSITE_TOLERANCE}: {within:.0%}; same label: {np.mean(agree):.0%}; per set (median/max): "
          + ", ".join(f"{k} {np.median(v):.3f}/{np.max(v):.2f} (n={len(v)})" for k, v in sorted(deltas.items())))
    assert np.median(every) <= COMPOSITE_MAX_MEDIAN_GAP, "median |P(fake) - alone| over the floor"
    assert within >= COMPOSITE_MIN_WITHIN
    assert every.max() <= COMPOSITE_MAX_GAP, f"a face's P(fake) in the photo is {every.max():.3f} from its file's"


# --------------------------------------------------------------------------- explain
def test_occlusion_map_measures_what_each_cell_does(model, shared_faces):
    path = sorted(glob.glob(str(shared_faces / "ffhq-stylegan" / "fake" / "*.jpg")))[0]
    x = preprocess(Image.open(path), model.spec)
    result = occlusion_map(model, x, grid=4)
    assert result["grid"] == 4 and len(result["values"]) == 4 and all(len(r) == 4 for r in result["values"])
    assert result["base_probability"] == pytest.approx(model.probability(x), abs=1e-6)
    # recompute one cell by hand
    y = x.copy()
    y[64:128, 128:192] = x.reshape(-1, 3).mean(axis=0)
    assert result["values"][1][2] == pytest.approx(model.probability(x) - model.probability(y), abs=2e-4)
    assert result["max_abs"] == pytest.approx(max(abs(v) for r in result["values"] for v in r), abs=1e-4)
    with pytest.raises(ValueError):
        occlusion_map(model, x, grid=1)


# --------------------------------------------------------------------------- aligned test split
def _auc(labels, scores) -> float:
    from converter.metrics import auc

    return float(auc(np.asarray(labels), np.asarray(scores)))


@pytest.mark.slow
def test_face_path_keeps_auc_on_the_aligned_test_split(service, model):
    """Classifying the test split through the face path (the API: every face, the most-fake one
    decides) loses <= 0.01 AUC against classifying the aligned crops directly, overall and per set.
    "Directly" is how the model card's test metrics were measured: for a face-square model
    (``input.face_crop``) each file's largest face square (faces.file_face_pixels), else the whole file."""
    items = fs.test_split()
    by_set: dict[str, list] = {}
    rules: dict[str, int] = {}
    for name, path, label in items:
        data = open(path, "rb").read()
        answer = service.analyze(data)
        rules[answer["verdict_source"]["rule"]] = rules.get(answer["verdict_source"]["rule"], 0) + 1
        if model.spec.face_crop:
            pixels, _ = F.file_face_pixels(path, model.spec, service.faces)
            direct = model.probability(scale_pixels(pixels, model.spec))
        else:
            direct = plain_probability(model, data)
        by_set.setdefault(name, []).append((label, direct, answer["fake_probability"]))
    lines = []
    everything = []
    for name, rows in sorted(by_set.items()):
        labels, plain, face = zip(*rows)
        everything += rows
        a_plain, a_face = _auc(labels, plain), _auc(labels, face)
        lines.append(f"{name}: n={len(rows)} AUC direct {a_plain:.4f} face path {a_face:.4f} loss {a_plain - a_face:+.4f}")
        assert a_plain - a_face <= 0.01, lines[-1]
    labels, plain, face = zip(*everything)
    a_plain, a_face = _auc(labels, plain), _auc(labels, face)
    lines.append(f"all: n={len(everything)} AUC direct {a_plain:.4f} face path {a_face:.4f} loss {a_plain - a_face:+.4f}")
    print("\n".join(lines), "\nverdict rules:", rules)
    assert a_plain - a_face <= 0.01


# --------------------------------------------------------------------------- EXIF orientation
@pytest.mark.parametrize("orientation,stored", [(6, Image.Transpose.ROTATE_90), (3, Image.Transpose.ROTATE_180),
                                                (8, Image.Transpose.ROTATE_270)])
def test_exif_rotated_photo_gives_the_same_faces_as_the_upright_one(service, orientation, stored):
    """Boxes are in displayed pixels and each face is judged upright exactly once (Pillow copies
    the EXIF into crops: applying the orientation again would judge a rotated face)."""
    rng = np.random.default_rng(4)
    comp = fs.compose(fs.pick_faces(rng, 2, fs.test_split(("ffhq-stylegan",))), (1200, 900), rng,
                      side_range=(250, 350))
    upright = service.analyze(comp.jpeg())
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    comp.image.transpose(stored).save(buf, "JPEG", quality=92, exif=exif.tobytes())
    rotated = service.analyze(buf.getvalue())
    assert (rotated["image"]["width"], rotated["image"]["height"]) == (1200, 900)
    assert len(rotated["faces"]) == len(upright["faces"]) == 2
    for a, b in zip(sorted(upright["faces"], key=lambda f: f["box"]), sorted(rotated["faces"], key=lambda f: f["box"])):
        assert np.allclose(a["box"], b["box"], atol=3)
        # same pixels up to JPEG re-encoding of the rotated copy
        assert b["fake_probability"] == pytest.approx(a["fake_probability"], abs=0.05)
