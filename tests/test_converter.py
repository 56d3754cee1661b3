"""Converter: splits, preprocessing parity with serving, metrics, and the shipped model's card."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from converter import data as D
from converter import metrics as M
from detector.model import Model, calibrate, sha256_file
from detector.preprocess import InputSpec, decode_image, load_file_pixels, preprocess, scale_pixels

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACES = os.path.join(os.path.dirname(REPO), "shared", "data", "faces")
SETS = ("mesonet-df", "ffhq-stylegan", "generated-faces", "lfw-faceswap")
MANIFEST = os.path.join(REPO, "models", "splits.json")
SHIPPED = os.path.join(REPO, "layers", "model", "model.tflite")
SHIPPED_CARD = os.path.join(REPO, "layers", "model", "model.json")

needs_faces = pytest.mark.skipif(
    not os.path.isdir(FACES) and os.environ.get("CI") != "true", reason="../shared/data/faces not here"
)


def _card():
    with open(SHIPPED_CARD, encoding="utf-8") as fh:
        return json.load(fh)


# --------------------------------------------------------------------------- splits
def test_manifest_is_shipped_and_leak_free():
    m = D.load_manifest(MANIFEST)
    assert set(m["sets"]) == set(SETS)
    D.check_no_leak(m)
    for name, s in m["sets"].items():
        n = sum(len(s[k]) for k in D.SPLITS)
        for split, frac in zip(D.SPLITS, (0.70, 0.15, 0.15)):
            assert abs(len(s[split]) / n - frac) < 0.05, (name, split)
            labels = {D.label_of(f) for f in s[split]}
            assert labels == {0, 1}, (name, split)
    # mesonet-df: no video id in two splits
    df = m["sets"]["mesonet-df"]
    assert df["group_by"] == "video"
    vids = {sp: {f.split("/")[0] + "/" + f.split("/")[-1].split("_")[0] for f in df[sp]} for sp in D.SPLITS}
    assert not (vids["train"] & vids["test"]) and not (vids["train"] & vids["valid"]) and not (vids["valid"] & vids["test"])


def test_split_is_reproducible_and_groups_videos(tmp_path):
    for cls, vids in (("real", ("1", "2", "3", "4", "5", "6")), ("fake", ("7", "8", "9", "10", "11", "12"))):
        (tmp_path / "toy" / cls).mkdir(parents=True)
        for v in vids:
            for frame in range(3):
                (tmp_path / "toy" / cls / f"{v}_{frame}.jpg").write_bytes(b"x")
    found = D.discover(str(tmp_path / "toy"))
    a = D.split_set("mesonet-toy", found, seed=7)
    b = D.split_set("mesonet-toy", found, seed=7)
    assert a == b
    for split in D.SPLITS:
        assert a[split]
    owner = {}
    for split in D.SPLITS:
        for f in a[split]:
            key = D.group_key("mesonet-toy", f, "video")
            assert owner.setdefault(key, split) == split


def test_discovers_140k_layout(tmp_path):
    for split in ("train", "valid", "test"):
        for cls in ("real", "fake"):
            d = tmp_path / "140k" / split / cls
            d.mkdir(parents=True)
            (d / f"{split}{cls}.jpg").write_bytes(b"x")
    found = D.discover(str(tmp_path / "140k"))
    s = D.split_set("140k", found, seed=1)
    assert s["group_by"] == "source"
    assert s["test"] == ["test/fake/testfake.jpg", "test/real/testreal.jpg"]
    assert [D.label_of(f) for f in s["train"]] == [1, 0]


def test_folder_without_classes_is_refused(tmp_path):
    (tmp_path / "x" / "cats").mkdir(parents=True)
    with pytest.raises(SystemExit):
        D.discover(str(tmp_path / "x"))


# --------------------------------------------------------------------------- preprocessing
@needs_faces
@pytest.mark.parametrize("name", SETS)
def test_training_and_serving_arrays_are_identical(name, tmp_path):
    spec = InputSpec()
    root = os.path.join(FACES, name)
    files = [f"real/{f}" for f in sorted(os.listdir(os.path.join(root, "real")))[:3]]
    files += [f"fake/{f}" for f in sorted(os.listdir(os.path.join(root, "fake")))[:3]]
    cached = D.load_pixels(root, files, spec, str(tmp_path), workers=1)  # the converter's loader (+ .npy cache)
    again = D.load_pixels(root, files, spec, str(tmp_path), workers=1)   # read back from the cache
    for i, f in enumerate(files):
        with open(os.path.join(root, f), "rb") as fh:
            served = preprocess(decode_image(fh.read(), spec), spec)
        train_input = scale_pixels(np.asarray(cached[i]), spec)
        assert train_input.dtype == served.dtype == np.float32
        assert np.array_equal(train_input, served), f
        assert np.array_equal(np.asarray(again[i]), np.asarray(cached[i]))
        assert np.array_equal(load_file_pixels(os.path.join(root, f), spec), np.asarray(cached[i]))


@needs_faces
def test_face_square_training_arrays_are_the_serving_face_inputs(tmp_path):
    """With ``input.face_crop`` the converter caches each file's largest face square through
    detector.faces (file_face_pixels = face_input on the served decode), plus where the image lies
    in it; a file with no face falls back to the whole image, as the API does."""
    from detector.faces import FaceDetector, file_face_pixels
    from PIL import Image

    spec = InputSpec(face_crop=(1.2, 0.0))
    root = os.path.join(FACES, "generated-faces")
    files = [f"real/{f}" for f in sorted(os.listdir(os.path.join(root, "real")))[:4]]
    files += [f"fake/{f}" for f in sorted(os.listdir(os.path.join(root, "fake")))[:2]]
    Image.new("RGB", (300, 300), (90, 120, 150)).save(tmp_path / "blank.png")  # no face
    os.makedirs(tmp_path / "set" / "real")
    os.replace(tmp_path / "blank.png", tmp_path / "set" / "real" / "blank.png")
    pixels, valid = D.load_pixels(root, files, spec, str(tmp_path / "cache"), workers=1, with_valid=True)
    detector = FaceDetector(D.FACE_MODEL_DIR)
    for i, f in enumerate(files):
        px, v = file_face_pixels(os.path.join(root, f), spec, detector)
        assert np.array_equal(np.asarray(pixels[i]), px) and tuple(valid[i]) == v, f
    assert any(tuple(v) != (0, 0, 256, 256) for v in valid)  # UTKFace reals fill their frame
    blank, v = D.load_pixels(str(tmp_path / "set"), ["real/blank.png"], spec, None, workers=1, with_valid=True)
    assert np.array_equal(blank[0], load_file_pixels(str(tmp_path / "set" / "real" / "blank.png"), spec))
    assert tuple(v[0]) == (0, 0, 256, 256)
    # a different input spec is a different cache entry
    whole = D.load_pixels(root, files, InputSpec(), str(tmp_path / "cache"), workers=1)
    assert not np.array_equal(np.asarray(whole), np.asarray(pixels))


def test_fill_outside_replaces_only_what_lies_outside_the_image():
    from converter.train import fill_outside

    rng = np.random.default_rng(3)
    img = np.full((256, 256, 3), 7, np.uint8)
    pool = np.full((4, 256, 256, 3), 200, np.uint8)
    valid = (0, 20, 230, 256)
    assert fill_outside(img, valid, rng, 0.0, pool) is img  # p_fill 0: as served (edge fill)
    kinds = set()
    for _ in range(60):
        out = fill_outside(img, valid, rng, 1.0, pool)
        assert np.all(out[20:256, 0:230] == 7)  # the image's part is never touched
        outside = np.concatenate([out[:20].reshape(-1, 3), out[20:, 230:].reshape(-1, 3)])
        assert not np.all(outside == 7)
        kinds.add("image" if np.all(outside == 200) else "colour")
    assert kinds == {"image", "colour"}  # another training image, or a (noisy or smooth) colour fill


def test_augmentation_is_mild_and_reproducible():
    tf = pytest.importorskip("tensorflow")
    from converter.augment import AugmentConfig, make_augment

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    f = make_augment(AugmentConfig(p_scale=1, p_jpeg=1, p_color=1, p_blur=1, p_flip=0), 1 / 255)
    a = f(tf.constant(img), tf.constant([3, 4], tf.int64)).numpy()
    b = f(tf.constant(img), tf.constant([3, 4], tf.int64)).numpy()
    c = f(tf.constant(img), tf.constant([3, 5], tf.int64)).numpy()
    assert a.shape == (256, 256, 3) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0
    ident = make_augment(AugmentConfig(p_scale=0, p_jpeg=0, p_color=0, p_blur=0, p_flip=0, p_zoom=0), 1 / 255)
    assert np.array_equal(ident(tf.constant(img), tf.constant([1, 1], tf.int64)).numpy(), scale_pixels(img, InputSpec()))


def test_reframing_augmentation_zooms_in_and_out():
    """``p_zoom`` (0.85-1.15 in the shipped model, docs/faces.md): zoom in = a crop of ``z`` x the side
    scaled back up; zoom out = the image shrunk by ``z`` with its border reflected around it."""
    tf = pytest.importorskip("tensorflow")
    from converter.augment import AugmentConfig, make_augment

    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (256, 1, 3))  # pixel value = column
    off = dict(p_scale=0, p_jpeg=0, p_color=0, p_blur=0, p_flip=0)
    zoom_in = make_augment(AugmentConfig(**off, p_zoom=1, min_zoom=0.5, max_zoom=0.5), 1 / 255)
    zoom_out = make_augment(AugmentConfig(**off, p_zoom=1, min_zoom=1.25, max_zoom=1.25), 1 / 255)
    for seed in ([1, 2], [7, 9], [3, 3]):
        row = 255 * zoom_in(tf.constant(ramp), tf.constant(seed, tf.int64)).numpy()[128, :, 0]
        assert 120 <= row.max() - row.min() <= 130  # half of the 0-255 ramp, stretched to 256 px
        assert np.all(np.diff(row) >= 0)
        row = 255 * zoom_out(tf.constant(ramp), tf.constant(seed, tf.int64)).numpy()[128, :, 0]
        assert row.max() - row.min() >= 250  # the whole ramp, shrunk to 205 px ...
        assert np.any(np.diff(row) < 0)  # ... with a reflected border on at least one side


# --------------------------------------------------------------------------- metrics
def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # ties on purpose
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert M.auc(y, s) == pytest.approx(pairwise, abs=1e-12)
    assert M.auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 4000)
    true_logit = rng.normal(size=4000) * 2.0
    y = (rng.random(4000) < calibrate(true_logit, 1.0)).astype(int)
    overconfident = true_logit * 4.0
    T = M.fit_temperature(y, overconfident)
    assert T == pytest.approx(4.0, rel=0.15)
    assert M.ece(y, calibrate(overconfident, T)) < M.ece(y, calibrate(overconfident, 1.0)) / 2


def test_threshold_rule_balances_sets():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    t = M.choose_threshold({"a": (y, p)})
    assert 0.3 < t <= 0.7


# --------------------------------------------------------------------------- the shipped model
def test_shipped_card_matches_tflite_and_contract():
    card = _card()
    assert card["sha256"] == sha256_file(SHIPPED)
    assert card["file"] == "model.tflite"
    assert os.path.getsize(SHIPPED) <= 60 * 1024
    for key in ("name", "version", "date", "architecture", "input", "output", "temperature", "threshold",
                "threshold_rule", "metrics", "quantization", "parity", "training_data", "licence", "limitations"):
        assert key in card, key
    assert card["input"] == InputSpec.from_card(card).to_card()
    # exactly what training used (a rounded scale would feed serving slightly different inputs)
    with open(os.path.join(REPO, "models", "model.training.json"), encoding="utf-8") as fh:
        trained_on = InputSpec.from_card(json.load(fh))
    assert InputSpec.from_card(card) == trained_on and card["input"]["scale"] == 1.0 / 255.0
    assert trained_on.face_crop == (0.85, 0.0) and trained_on.face_pad == "mean"  # model 2.1.0: face squares inside the face box
    assert card["output"]["tensor"] == "logit"
    assert card["temperature"] > 0 and 0 < card["threshold"] < 1
    assert card["parity"]["passed"] is True
    for name in SETS:
        p = card["parity"]["sets"][name]
        assert p["auc_diff"] <= 0.005 and p["label_agreement"] >= 0.98
        t = card["metrics"]["test"][name]
        for k in ("n", "auc", "accuracy", "precision", "recall", "ece", "ece_before_calibration"):
            assert k in t, (name, k)
    assert "CC BY-NC-SA" in card["licence"] and "UTKFace" in card["licence"]
    model = Model.load(SHIPPED)  # verifies the sha256 too
    q = card["quantization"]
    assert q["tensor_dtypes"].get("int8", 0) > 10 and "float32" in q["tensor_dtypes"]
    assert q["int8_input_quantization"]["scale"] == pytest.approx(1 / 255, rel=0.02)
    assert model.spec == InputSpec.from_card(card)


@needs_faces
@pytest.mark.slow
def test_evaluate_reproduces_the_card(tmp_path):
    """The shipped .tflite through the serving code on the manifest's test split gives the card's figures."""
    from converter.evaluate import evaluate

    card = _card()
    manifest = D.load_manifest(MANIFEST)
    results = evaluate(SHIPPED, manifest, MANIFEST, report_dir=None, update_card=False)
    for name in SETS:
        got, want = results[name], card["metrics"]["test"][name]
        assert got["n"] == want["n"] == len(manifest["sets"][name]["test"])
        for k in ("auc", "accuracy", "precision", "recall", "ece", "ece_before_calibration"):
            assert got[k] == pytest.approx(want[k], abs=1e-4), (name, k)
