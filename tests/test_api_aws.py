"""AWS parts with moto: the S3 model source (checksum) and the audit bucket built from template.yaml."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from api_support import REPO_ROOT, active_resources, call, face_bytes, load_template, post_raw, rest_event
from conftest import load_app_module
from detector.config import Config
from detector.errors import ModelUnavailable
from detector.source import load_model, parse_s3_uri

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("s3", region_name=REGION)


def _upload_model(s3, model_path, *, bucket="models-bucket", key="detector/v1/model.tflite", card_patch=None):
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=model_path.read_bytes())
    card = json.loads(model_path.with_suffix(".json").read_text())
    card.update(card_patch or {})
    s3.put_object(Bucket=bucket, Key=key.rsplit(".", 1)[0] + ".json", Body=json.dumps(card).encode())
    return f"s3://{bucket}/{key}", card


# --------------------------------------------------------------------------- S3 model source
def test_parse_s3_uri():
    assert parse_s3_uri("s3://b/k/model.tflite") == ("b", "k/model.tflite")
    for bad in ("https://b/k", "s3://", "s3://bucket", "bucket/key"):
        with pytest.raises(ModelUnavailable):
            parse_s3_uri(bad)


def test_model_from_s3_serves(aws, model_path, tmp_path):
    uri, card = _upload_model(aws, model_path)
    app = load_app_module({"MODEL_S3_URI": uri, "MODEL_CACHE_DIR": str(tmp_path),
                           "MODEL_PATH": str(tmp_path / "not-used.tflite")})
    assert app.MODEL_ERROR is None
    status, body, _ = post_raw(app, face_bytes(0), "image/jpeg")
    assert status == 200 and body["model"]["sha256"] == card["sha256"]
    assert (tmp_path / "model-s3" / "model.tflite").read_bytes() == model_path.read_bytes()
    # a second cold start in the same sandbox reuses /tmp (no second download needed)
    aws.delete_object(Bucket="models-bucket", Key="detector/v1/model.tflite")
    again = load_model(Config(model_s3_uri=uri, model_cache_dir=str(tmp_path)))
    assert again.identity["sha256"] == card["sha256"]


def test_model_from_s3_with_wrong_checksum_refuses(aws, model_path, tmp_path):
    uri, _ = _upload_model(aws, model_path, card_patch={"sha256": "f" * 64})
    app = load_app_module({"MODEL_S3_URI": uri, "MODEL_CACHE_DIR": str(tmp_path)})
    assert app.MODEL is None
    for event in (rest_event("POST", "/predict", body=face_bytes(0), content_type="image/jpeg"),
                  rest_event("GET", "/model")):
        status, out, _ = call(app, event)
        assert (status, out["error"]["code"]) == (503, "model_unavailable")
        assert "sha256" in out["error"]["message"]
    assert not (tmp_path / "model-s3" / "model.tflite").exists()  # never kept for the next start


def test_model_from_s3_missing_object(aws, tmp_path):
    aws.create_bucket(Bucket="empty-bucket")
    with pytest.raises(ModelUnavailable, match="Could not download"):
        load_model(Config(model_s3_uri="s3://empty-bucket/none.tflite", model_cache_dir=str(tmp_path)))


def test_boto3_is_not_imported_without_s3(model_path):
    import subprocess
    import sys

    code = ("import sys, app; print('boto3' in sys.modules, 'multipart' in sys.modules, app.MODEL_ERROR)")
    env = {"MODEL_PATH": str(model_path), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(REPO_ROOT / "functions" / "detect")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "False False None"


# --------------------------------------------------------------------------- audit bucket
def _bucket_from_template(s3, name: str, **param_overrides) -> dict:
    """Create the moto bucket with the exact properties template.yaml gives AuditBucket."""
    res = active_resources(load_template(), EnableAudit="true", **param_overrides)["AuditBucket"]
    props = res["Properties"]
    s3.create_bucket(Bucket=name)
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
         "BucketKeyEnabled": r.get("BucketKeyEnabled", False)} for r in rules]})
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
        "Rules": [{"ObjectOwnership": r["ObjectOwnership"]} for r in props["OwnershipControls"]["Rules"]]})
    lifecycle = []
    for r in props["LifecycleConfiguration"]["Rules"]:
        rule = {"ID": r["Id"], "Status": r["Status"], "Filter": {"Prefix": r.get("Prefix", "")},
                "Expiration": {"Days": int(r["ExpirationInDays"])}}
        if "NoncurrentVersionExpiration" in r:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(r["NoncurrentVersionExpiration"]["NoncurrentDays"])}
        if "AbortIncompleteMultipartUpload" in r:
            rule["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
        lifecycle.append(rule)
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle})
    return props


def test_audit_bucket_settings_from_the_template(aws):
    props = _bucket_from_template(aws, "audit-settings", AuditRetentionDays="7")
    enc = aws.get_bucket_encryption(Bucket="audit-settings")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    block = aws.get_public_access_block(Bucket="audit-settings")["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}
    rules = aws.get_bucket_lifecycle_configuration(Bucket="audit-settings")["Rules"]
    assert rules[0]["Expiration"]["Days"] == 7 and rules[0]["Status"] == "Enabled"
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == "7"


def test_audit_writes_verdicts_not_images_by_default(aws, model_path):
    _bucket_from_template(aws, "audit-verdicts")
    app = load_app_module({"MODEL_PATH": str(model_path), "AUDIT_BUCKET": "audit-verdicts"})
    status, body, _ = post_raw(app, face_bytes(0), "image/jpeg", request_id="audit-req-1")
    assert status == 200
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket="audit-verdicts").get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("verdicts/") and keys[0].endswith("/audit-req-1.json")
    obj = aws.get_object(Bucket="audit-verdicts", Key=keys[0])
    stored = json.loads(obj["Body"].read())
    assert stored["fake_probability"] == body["fake_probability"] and stored["request_id"] == "audit-req-1"
    assert obj.get("ServerSideEncryption") in ("AES256", "aws:kms")  # the bucket default applied
    # errors are not audited (no verdict)
    post_raw(app, b"not an image", "image/jpeg")
    assert aws.list_objects_v2(Bucket="audit-verdicts")["KeyCount"] == 1


def test_audit_with_images(aws, model_path):
    _bucket_from_template(aws, "audit-images")
    app = load_app_module({"MODEL_PATH": str(model_path), "AUDIT_BUCKET": "audit-images",
                           "AUDIT_STORE_IMAGES": "true"})
    data = face_bytes(1)
    status, _, _ = post_raw(app, data, "image/jpeg", request_id="audit-req-2")
    assert status == 200
    keys = sorted(o["Key"] for o in aws.list_objects_v2(Bucket="audit-images")["Contents"])
    assert [k.split("/")[0] for k in keys] == ["images", "verdicts"]
    assert aws.get_object(Bucket="audit-images", Key=keys[0])["Body"].read() == data


def test_audit_failure_does_not_change_the_answer(aws, model_path, capsys):
    app = load_app_module({"MODEL_PATH": str(model_path), "AUDIT_BUCKET": "no-such-bucket"})
    status, body, _ = post_raw(app, face_bytes(0), "image/jpeg")
    assert status == 200 and body["label"] in ("REAL", "FAKE")
    assert '"audit write failed"' in capsys.readouterr().out


def test_template_wires_audit_least_privilege():
    on = active_resources(load_template(), EnableAudit="true", AuditStoreImages="true")
    env = on["DetectFunction"]["Properties"]["Environment"]["Variables"]
    assert env["AUDIT_BUCKET"] == {"Ref": "AuditBucket"} and env["AUDIT_STORE_IMAGES"] == "true"
    statements = [s for p in on["DetectFunction"]["Properties"]["Policies"] for s in p["Statement"]]
    assert statements == [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": {"Fn::Sub": "${AuditBucket.Arn}/*"}}]
    policy = on["AuditBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    off = active_resources(load_template())
    assert "AuditBucket" not in off and "AuditBucketPolicy" not in off
    assert off["DetectFunction"]["Properties"]["Environment"]["Variables"]["AUDIT_BUCKET"] == ""
    assert off["DetectFunction"]["Properties"]["Policies"] == []
