"""template.yaml: wiring per parameter (conditions), `sam validate --lint`, `sam build` + the built layer."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from api_support import REPO_ROOT, active_resources, load_template, make_events

SAM = REPO_ROOT / ".venv-sam" / "bin" / "sam"
T = load_template()


def _sam_env():
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env.pop("AWS_PROFILE", None)
    return env


def _require_sam():
    if not SAM.exists():
        pytest.fail(f"{SAM} missing: make sam-venv")


# --------------------------------------------------------------------------- structure
def test_parameters_have_safe_defaults():
    p = T["Parameters"]
    for name in ("ThrottleRateLimit", "ThrottleBurstLimit", "RequireApiKey", "EnableWaf", "WafRateLimit",
                 "FunctionMemorySize", "FunctionTimeout", "MaxImageBytes", "CorsAllowOrigin",
                 "EnableAudit", "AuditStoreImages", "AuditRetentionDays", "ModelS3Uri"):
        assert name in p, name
    assert p["RequireApiKey"]["Default"] == "false" and p["EnableWaf"]["Default"] == "false"
    assert p["EnableAudit"]["Default"] == "false" and p["AuditStoreImages"]["Default"] == "false"
    assert p["CorsAllowOrigin"]["Default"] == "*"
    assert int(p["MaxImageBytes"]["Default"]) == 4_500_000
    # the seeds' 5 uploads a minute per user, within WAF's minimum limit of 10
    assert int(p["WafRateLimit"]["Default"]) / int(p["WafRateWindowSeconds"]["Default"]) * 60 == 5


def test_function_settings():
    fn = active_resources(T)["DetectFunction"]["Properties"]
    g = T["Globals"]["Function"]
    assert g["Runtime"] == "python3.11" and g["Architectures"] == ["x86_64"]
    assert fn["Handler"] == "app.lambda_handler" and fn["CodeUri"].rstrip("/") == "functions/detect"
    assert fn["MemorySize"] == str(T["Parameters"]["FunctionMemorySize"]["Default"])
    assert fn["Timeout"] == str(T["Parameters"]["FunctionTimeout"]["Default"])
    env = fn["Environment"]["Variables"]
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["MODEL_PATH"] == "/opt/model/model.tflite"
    # the model layer's faces/ (make face-models): without them the function answers 503
    assert env["FACE_MODEL_DIR"] == "/opt/model/faces"
    assert env["FACE_SEARCH"] == "fast"  # the FaceSearch parameter's default
    assert T["Parameters"]["FaceSearch"]["Default"] == "fast"
    assert T["Parameters"]["FaceSearch"]["AllowedValues"] == ["fast", "thorough"]
    assert env["CORS_ALLOW_ORIGIN"] == "*" and env["MAX_IMAGE_BYTES"] == "4500000"
    assert fn["Layers"] == [{"Ref": "RuntimeLayer"}, {"Ref": "ModelLayer"}]
    for layer in ("RuntimeLayer", "ModelLayer"):
        assert T["Resources"][layer]["Metadata"]["BuildMethod"] == "makefile"
        assert T["Resources"][layer]["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert (REPO_ROOT / "layers/runtime/Makefile").read_text().count("build-RuntimeLayer:") == 1
    assert (REPO_ROOT / "layers/model/Makefile").read_text().count("build-ModelLayer:") == 1


def test_binary_media_types_match_the_events_and_exclude_json():
    api = T["Resources"]["DetectApi"]["Properties"]
    types = [t.replace("~1", "/") for t in api["BinaryMediaTypes"]]
    assert "multipart/form-data" in types and "application/json" not in types
    assert {"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"} <= set(types)
    assert not any(t in ("*/*", "application/*") for t in types)
    assert set(types) == set(make_events.BINARY_MEDIA_TYPES)  # tests' events shaped like the gateway


def test_stage_throttling_uses_the_parameters():
    for overrides in ({}, {"ThrottleRateLimit": "3", "ThrottleBurstLimit": "7"}):
        api = active_resources(T, **overrides)["DetectApi"]["Properties"]
        ms = api["MethodSettings"][0]
        assert ms["ResourcePath"] == "/*" and ms["HttpMethod"] == "*"
        assert str(ms["ThrottlingRateLimit"]) == overrides.get("ThrottleRateLimit", "10")
        assert str(ms["ThrottlingBurstLimit"]) == overrides.get("ThrottleBurstLimit", "20")


def _methods(api):
    for path, item in api["DefinitionBody"]["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def test_api_key_wiring_per_parameter():
    off = active_resources(T)
    assert not {"ApiKey", "ApiUsagePlan", "ApiUsagePlanKey"} & set(off)
    for _, _, op in _methods(off["DetectApi"]["Properties"]):
        assert op.get("security", []) == []  # [] = no authorization
    on = active_resources(T, RequireApiKey="true", ApiKeyDailyQuota="123")
    plan = on["ApiUsagePlan"]["Properties"]
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "DetectApi"}, "Stage": {"Ref": "DetectApi.Stage"}}]
    assert plan["Quota"] == {"Limit": "123", "Period": "DAY"}
    assert on["ApiUsagePlanKey"]["Properties"]["KeyId"] == {"Ref": "ApiKey"}
    assert on["ApiUsagePlanKey"]["Properties"]["UsagePlanId"] == {"Ref": "ApiUsagePlan"}
    for path, method, op in _methods(on["DetectApi"]["Properties"]):
        if method == "options":  # CORS preflights carry no key
            assert op.get("security", []) == [], path
        else:
            assert op["security"] == [{"api_key": []}], (path, method)
    defs = on["DetectApi"]["Properties"]["DefinitionBody"]["securityDefinitions"]["api_key"]
    assert defs == {"type": "apiKey", "name": "x-api-key", "in": "header"}


def test_waf_wiring_per_parameter():
    off = active_resources(T)
    assert "WebAcl" not in off and "WebAclAssociation" not in off
    on = active_resources(T, EnableWaf="true", WafRateLimit="50", WafRateWindowSeconds="300")
    acl = on["WebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL" and "Allow" in acl["DefaultAction"]
    rule = acl["Rules"][0]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP" and rate["Limit"] == "50" and rate["EvaluationWindowSec"] == "300"
    assert rate["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"] == "/predict"
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 429
    headers = {h["Name"]: h["Value"] for h in block["ResponseHeaders"]}
    assert headers["Access-Control-Allow-Origin"] == "*"  # CorsAllowOrigin's default, on WAF's 429 too
    body = json.loads(acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"])
    assert set(body["error"]) == {"code", "message"}
    assoc = on["WebAclAssociation"]["Properties"]
    assert assoc["WebACLArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    assert "/restapis/${DetectApi}/stages/${DetectApi.Stage}" in assoc["ResourceArn"]["Fn::Sub"]


def test_s3_model_policy_only_when_configured():
    off = active_resources(T)["DetectFunction"]["Properties"]
    assert off["Policies"] == [] and off["Environment"]["Variables"]["MODEL_S3_URI"] == ""
    on = active_resources(T, ModelS3Uri="s3://models/detector/v2/model.tflite")["DetectFunction"]["Properties"]
    (stmt,) = on["Policies"][0]["Statement"]
    assert stmt["Action"] == "s3:GetObject" and len(stmt["Resource"]) == 2  # the model and its card


def test_every_route_goes_to_the_function_and_gateway_errors_are_json():
    api = T["Resources"]["DetectApi"]["Properties"]["DefinitionBody"]
    assert set(api["paths"]) == {"/", "/{proxy+}"}
    for path, method, op in _methods({"DefinitionBody": api}):
        integ = op["x-amazon-apigateway-integration"]
        assert integ["type"] == "aws_proxy" and "${DetectFunction.Arn}" in integ["uri"]["Fn::Sub"]
    for name in ("THROTTLED", "INVALID_API_KEY", "DEFAULT_4XX", "DEFAULT_5XX"):
        resp = api["x-amazon-apigateway-gateway-responses"][name]
        assert "Access-Control-Allow-Origin" in next(iter(resp["responseParameters"]))
        assert '"error"' in resp["responseTemplates"]["application/json"]
    assert api["x-amazon-apigateway-gateway-responses"]["THROTTLED"]["statusCode"] == 429


def test_outputs():
    out = T["Outputs"]
    assert out["ApiUrl"]["Value"]["Fn::Sub"].endswith("/${StageName}/")
    assert out["PredictUrl"]["Value"]["Fn::Sub"].endswith("/${StageName}/predict")


# --------------------------------------------------------------------------- SAM CLI
@pytest.mark.timeout(300)
def test_sam_validate_lint():
    _require_sam()
    out = subprocess.run([str(SAM), "validate", "--lint", "--template-file", str(REPO_ROOT / "template.yaml")],
                         cwd=REPO_ROOT, env=_sam_env(), capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is a valid SAM Template" in out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sam_build_and_the_trimmed_layer_serves(tmp_path, model_path):
    """sam build (makefile layers, no container), layer <= 90 MB, and the trimmed layer answers
    real requests in a clean CPython 3.11 with nothing but the built artifacts on its path."""
    _require_sam()
    python311 = shutil.which("python3.11")
    assert python311, "python3.11 is needed by sam build (python3.11 runtime) and to compile the layer"
    # Build from a copy of the repo's build inputs so the model layer has a model even before
    # layers/model/model.tflite is committed (the fixture's model).
    src = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "functions", src / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "layers", src / "layers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "template.yaml", src / "template.yaml")
    if not (src / "layers/model/model.tflite").exists():
        shutil.copy(model_path, src / "layers/model/model.tflite")
        shutil.copy(model_path.with_suffix(".json"), src / "layers/model/model.json")
    build = tmp_path / "build"
    out = subprocess.run([str(SAM), "build", "--build-dir", str(build), "--template-file", str(src / "template.yaml")],
                         cwd=src, env=_sam_env(), capture_output=True, text=True, timeout=880)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    layer = build / "RuntimeLayer" / "python"
    size = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"runtime layer unzipped: {size / 1e6:.1f} MB")
    assert size <= 90e6, f"runtime layer is {size / 1e6:.1f} MB"
    assert not list(layer.rglob("tests")) and (layer / "numpy").is_dir()
    assert (build / "ModelLayer" / "model" / "model.tflite").exists()
    for name in ("face_detection_short_range.tflite", "face_detection_full_range.tflite"):
        assert (build / "ModelLayer" / "model" / "faces" / name).exists(), name
    assert (build / "DetectFunction" / "app.py").exists()
    assert list((build / "DetectFunction" / "detector" / "__pycache__").glob("service.cpython-311.pyc"))
    assert not (build / "DetectFunction" / "Makefile").exists()
    # the built function + layers in a bare interpreter: /opt layout emulated by paths
    check = (
        "import base64, io, json, sys, app\n"
        "from PIL import Image\n"
        "assert app.MODEL_ERROR is None, app.MODEL_ERROR\n"
        "img = Image.open(sys.argv[1]).convert('RGB')\n"
        "def enc(i, f, **k):\n b = io.BytesIO(); i.save(b, f, **k); return b.getvalue()\n"
        "forms = [enc(img, f) for f in ('JPEG', 'PNG', 'WEBP', 'BMP')]\n"
        "forms += [enc(img.convert('CMYK'), 'JPEG'), enc(img, 'GIF', save_all=True, append_images=[img.rotate(9)])]\n"
        "ex = Image.Exif(); ex[274] = 6; ex[271] = 'Canon'\n"
        "from PIL import PngImagePlugin\n"
        "pi = PngImagePlugin.PngInfo(); pi.add_text('parameters', 'Steps: 20, Sampler: Euler')\n"
        "forms += [enc(img, 'JPEG', exif=ex), enc(img.convert('RGBA'), 'PNG', pnginfo=pi)]\n"
        "codes = []\n"
        "for data in forms:\n"
        "    ev = {'httpMethod': 'POST', 'path': '/predict', 'headers': {'Content-Type': 'image/png'},\n"
        "          'body': base64.b64encode(data).decode(), 'isBase64Encoded': True, 'requestContext': {'requestId': 'x'}}\n"
        "    codes.append(app.lambda_handler(ev, None)['statusCode'])\n"
        "mp = b'--B\\r\\nContent-Disposition: form-data; name=\"image\"; filename=\"f.jpg\"\\r\\n\\r\\n' + forms[0] + b'\\r\\n--B--\\r\\n'\n"
        "ev = {'httpMethod': 'POST', 'path': '/predict', 'headers': {'Content-Type': 'multipart/form-data; boundary=B'},\n"
        "      'body': base64.b64encode(mp).decode(), 'isBase64Encoded': True, 'requestContext': {'requestId': 'y'}}\n"
        "codes.append(app.lambda_handler(ev, None)['statusCode'])\n"
        "print(json.dumps(codes))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": f"{build / 'DetectFunction'}:{layer}",
           "MODEL_PATH": str(build / "ModelLayer" / "model" / "model.tflite")}
    face = sorted((REPO_ROOT.parent / "shared/data/faces").glob("*/real/*.jpg"))[0]
    run = subprocess.run([python311, "-S", "-c", check, str(face)], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [200] * 9, run.stdout
