"""Smoke run of the whole converter: train 1 epoch on a few dozen shared images; calibrate -> export
(int8) -> parity gate -> card -> evaluate through the serving code, on the shipped weights and the
committed split manifest (what `make model` does after training); and the gate must reject a
deliberately mis-scaled quantization."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from converter import data as D
from detector.model import Model, sha256_file
from detector.preprocess import InputSpec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACES = os.path.join(os.path.dirname(REPO), "shared", "data", "faces")
# The 1-epoch fine-tune trains on the two sets the model separates best.
SETS = ("mesonet-df", "generated-faces")
SHIPPED_KERAS = os.path.join(REPO, "models", "model.keras")
SHIPPED_MANIFEST = os.path.join(REPO, "models", "splits.json")
SHIPPED_CARD = os.path.join(REPO, "layers", "model", "model.json")


def shipped_spec() -> InputSpec:
    """The input the shipped model was trained on (face squares for model 2.x), from its training record."""
    with open(os.path.join(REPO, "models", "model.training.json"), encoding="utf-8") as fh:
        info = json.load(fh)
    return InputSpec.from_card(info) if "input" in info else InputSpec()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir(FACES) and os.environ.get("CI") != "true",
                       reason="../shared/data/faces not here"),
]

# Few images are trained on.
SMOKE = dict(limit_train=100, limit_valid=None, limit_test=None)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    pytest.importorskip("tensorflow")
    from converter.train import train

    work = tmp_path_factory.mktemp("smoke")
    manifest_path = str(work / "splits.json")
    manifest = D.make_manifest([os.path.join(FACES, s) for s in SETS], seed=1234, base=str(work))
    D.save_manifest(manifest, manifest_path)
    manifest = D.load_manifest(manifest_path)
    keras_path = str(work / "model.keras")
    # One epoch on a few dozen images, warm-started from the shipped Keras model: a model trained from
    # scratch for a few steps has almost no spread in its logits, so the gate's rejection of a
    # mis-scaled export below would prove little.
    info = train(manifest, manifest_path, keras_path, spec=shipped_spec(), epochs=1, per_group=12, batch=16, lr=1e-4,
                 cache_dir=str(work / "cache"), limit_train=SMOKE["limit_train"],
                 limit_valid=SMOKE["limit_valid"], seed=1234, init_from=SHIPPED_KERAS)
    return {"work": work, "manifest": manifest, "manifest_path": manifest_path, "keras": keras_path, "info": info}


def test_smoke_train_logs_per_set_validation(smoke):
    info = smoke["info"]
    assert info["epochs_run"] == 1 and info["best_epoch"] == 1 and info["init_from"] == "model.keras"
    assert set(info["history"][0]["val_auc"]) == set(SETS)
    assert os.path.exists(smoke["keras"])
    assert info["train_images"] == {s: SMOKE["limit_train"] for s in SETS}


def test_export_of_the_shipped_weights_passes_its_gate_card_and_serving_evaluate(tmp_path):
    """The export step of `make model` on the shipped Keras weights and the committed manifest, every
    set's whole validation and test split, from an empty cache: calibration search, the parity gate
    (which must pass, as it did for the shipped file), the card, then evaluate through the serving code.
    (Exporting the smoke's 1-epoch fine-tune instead made the gate's verdict a coin flip: on the weak
    sets' near-threshold images the int8 labels of a slightly different model agree 97.4-99.2 %
    around the 98 % bar, depending on the fine-tune and on which sets fix the threshold.)"""
    pytest.importorskip("tensorflow")
    from converter.evaluate import evaluate
    from converter.export import export

    manifest = D.load_manifest(SHIPPED_MANIFEST)
    out = str(tmp_path / "model.tflite")
    card = export(SHIPPED_KERAS, manifest, SHIPPED_MANIFEST, out, data_dirs=[FACES], cache_dir=str(tmp_path / "cache"),
                  version="0.0.0-smoke")
    with open(os.path.join(os.path.dirname(out), "model.json"), encoding="utf-8") as fh:
        on_disk = json.load(fh)
    with open(SHIPPED_CARD, encoding="utf-8") as fh:
        shipped = json.load(fh)
    assert on_disk["sha256"] == sha256_file(out) == card["sha256"]
    for key in ("name", "version", "date", "file", "architecture", "input", "output", "temperature", "threshold",
                "threshold_rule", "metrics", "quantization", "parity", "training_data", "licence", "limitations"):
        assert key in on_disk, key
    assert on_disk["version"] == "0.0.0-smoke"
    assert on_disk["input"] == shipped_spec().to_card() == shipped["input"]  # exact: serving scales by it
    assert on_disk["output"]["tensor"] == "logit"
    assert on_disk["temperature"] == pytest.approx(shipped["temperature"], abs=1e-4)
    assert on_disk["threshold"] == pytest.approx(shipped["threshold"], abs=1e-4)
    sets = set(manifest["sets"])
    assert set(on_disk["metrics"]["validation"]) == sets == set(shipped["parity"]["sets"])
    assert on_disk["parity"]["passed"] is True
    for s in sets:
        p = on_disk["parity"]["sets"][s]
        assert p["n"] == len(manifest["sets"][s]["test"])
        assert p["auc_diff"] <= 0.005 and p["label_agreement"] >= 0.98
        # the shipped file's gate figures, reproduced (bit for bit here: same sha256 on this machine)
        assert p["auc_int8"] == pytest.approx(shipped["parity"]["sets"][s]["auc_int8"], abs=0.003)
    print("export reproduces the shipped file bit for bit:", on_disk["sha256"] == shipped["sha256"])
    q = on_disk["quantization"]
    assert q["int8_input_quantization"]["scale"] == pytest.approx(1 / 255, rel=0.02)
    assert q["int8_input_quantization"]["zero_point"] == -128
    assert "FULLY_CONNECTED" in q["ops"] and "CONV_2D" in q["ops"]
    assert len(q["calibration_candidates"]) == 6
    assert os.path.getsize(out) <= 60 * 1024
    assert any(d["set"] == "generated-faces" for d in on_disk["training_data"])

    # evaluate: the .tflite through the serving code, metrics land in the card, plots in the report
    report = tmp_path / "report"
    res = evaluate(out, manifest, SHIPPED_MANIFEST, data_dirs=[FACES], report_dir=str(report), limit=20)
    with open(os.path.join(os.path.dirname(out), "model.json"), encoding="utf-8") as fh:
        after = json.load(fh)
    assert after["sha256"] == sha256_file(out)
    Model.load(out)
    for s in sets:
        t = after["metrics"]["test"][s]
        assert t["n"] == 20 and 0.0 <= t["auc"] <= 1.0 and 0.0 <= t["ece"] <= 1.0
        assert res[s]["auc"] == pytest.approx(t["auc"], abs=1e-9)
        assert (report / f"roc-{s}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (report / f"reliability-{s}.png").stat().st_size > 1000
    assert "generated-faces" in (report / "summary.md").read_text()


def test_parity_gate_rejects_a_misscaled_export(smoke):
    from converter.export import ParityError, export

    out = str(smoke["work"] / "broken" / "model.tflite")
    with pytest.raises(ParityError) as err:
        export(smoke["keras"], smoke["manifest"], smoke["manifest_path"], out,
               cache_dir=str(smoke["work"] / "cache"), n_representative=400, rep_scale=0.02,
               calibration_search=False, **SMOKE)
    assert "rejected" in str(err.value)
    assert not os.path.exists(out) and not os.path.exists(os.path.join(os.path.dirname(out), "model.json"))


def test_parity_rule_itself():
    from converter.export import parity

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    z = rng.normal(size=400) + 2 * y
    ok = parity({"a": z}, {"a": z + rng.normal(scale=0.01, size=400)}, {"a": y}, 1.0, 0.5)
    assert ok["passed"] and ok["sets"]["a"]["label_agreement"] >= 0.98
    bad = parity({"a": z}, {"a": z * 0.0 + rng.normal(scale=0.01, size=400)}, {"a": y}, 1.0, 0.5)
    assert not bad["passed"]
