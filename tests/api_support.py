"""Helpers for the detection-API tests: real REST proxy events, real faces, odd images."""
from __future__ import annotations

import base64
import importlib.util
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = REPO_ROOT.parent / "shared" / "data" / "faces"

_spec = importlib.util.spec_from_file_location("detect_make_events", REPO_ROOT / "events" / "make_events.py")
make_events = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_events)
rest_event = make_events.rest_event
multipart_body = make_events.multipart_body


def face_files(n_per_set: int = 1, label: str | None = None) -> list[Path]:
    """The first n images of each shared set (real and fake), sorted: deterministic picks."""
    out = []
    for folder in sorted(SHARED_FACES.glob("*/*")):
        if not folder.is_dir() or (label and folder.name != label):
            continue
        out += sorted(folder.glob("*.jpg"))[:n_per_set]
    assert out, f"no shared faces under {SHARED_FACES}"
    return out


def face_bytes(index: int = 0) -> bytes:
    return face_files(1)[index].read_bytes()


def face_image(index: int = 0) -> Image.Image:
    return Image.open(io.BytesIO(face_bytes(index))).convert("RGB")


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def call(app, event: dict) -> tuple[int, dict, dict]:
    """Invoke the handler; check the proxy response shape; return (status, json body, headers)."""
    resp = app.lambda_handler(event, None)
    assert set(resp) >= {"statusCode", "headers", "body"}
    assert isinstance(resp["statusCode"], int)
    assert resp.get("isBase64Encoded") is False
    assert "Traceback" not in resp["body"]
    body = json.loads(resp["body"]) if resp["body"] else {}
    return resp["statusCode"], body, resp["headers"]


def post_json(app, payload, **kw):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return call(app, rest_event("POST", "/predict", body=body, content_type="application/json", **kw))


def post_raw(app, data: bytes, content_type: str = "image/jpeg", **kw):
    return call(app, rest_event("POST", "/predict", body=data, content_type=content_type, **kw))


def post_multipart(app, data: bytes, **kw):
    body, ctype = multipart_body(data, **kw)
    return call(app, rest_event("POST", "/predict", body=body, content_type=ctype))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR claims ``width`` x ``height`` (a decompression-bomb header)."""
    small = encode(Image.new("RGB", (32, 32), (10, 20, 30)), "PNG")
    ihdr = struct.pack(">II", width, height) + small[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return small[:16] + ihdr + crc + small[33:]


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# --------------------------------------------------------------------------- template.yaml
def load_template(path: Path = REPO_ROOT / "template.yaml") -> dict:
    """template.yaml with CloudFormation short tags turned into their long JSON forms."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def multi(tag_suffix):
        long = "Ref" if tag_suffix == "Ref" else ("Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}")

        def construct(loader, node):
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if tag_suffix == "GetAtt":
                    value = value.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {long: value}

        return construct

    for tag in ("Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Select", "Split", "Join",
                "Condition", "FindInMap", "Base64", "ImportValue", "GetAZs", "Cidr"):
        Loader.add_constructor(f"!{tag}", multi(tag))
    return yaml.load(path.read_text(), Loader=Loader)


def param_values(template: dict, **overrides) -> dict:
    values = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    values.update({k: str(v) for k, v in overrides.items()})
    return values


def resolve(value, params: dict, conditions: dict | None = None):
    """Evaluate Ref (to parameters), Fn::If, Fn::Equals, Fn::Not/And/Or, Condition on a value."""
    conditions = conditions or {}
    if isinstance(value, list):
        return [r for r in (resolve(v, params, conditions) for v in value) if r is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            if arg == "AWS::NoValue":
                return _NO_VALUE
            return params.get(arg, {"Ref": arg})
        if key == "Condition":
            return conditions[arg]
        if key == "Fn::Equals":
            a, b = (resolve(x, params, conditions) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not resolve(arg[0], params, conditions)
        if key == "Fn::And":
            return all(resolve(x, params, conditions) for x in arg)
        if key == "Fn::Or":
            return any(resolve(x, params, conditions) for x in arg)
        if key == "Fn::If":
            name, yes, no = arg
            return resolve(yes if conditions[name] else no, params, conditions)
    return {k: r for k, r in ((k, resolve(v, params, conditions)) for k, v in value.items()) if r is not _NO_VALUE}


_NO_VALUE = object()


def evaluate_conditions(template: dict, params: dict) -> dict:
    out: dict = {}
    pending = dict(template.get("Conditions", {}))
    while pending:
        for name, expr in list(pending.items()):
            try:
                out[name] = bool(resolve(expr, params, out))
                del pending[name]
            except KeyError:
                continue
    return out


def active_resources(template: dict, **overrides) -> dict:
    """Resources that CloudFormation would create for these parameter values, resolved."""
    params = param_values(template, **overrides)
    conds = evaluate_conditions(template, params)
    return {name: resolve(res, params, conds) for name, res in template["Resources"].items()
            if conds.get(res.get("Condition"), True)}
