"""scripts/publish.py against moto: a CloudFormation stack (the template's own FrontendBucket and
outputs named as in template.yaml) and a CloudFront distribution, then the upload itself."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway import cfnyaml  # noqa: E402
from gateway.server import content_type_for  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import publish as pub  # noqa: E402

REGION = "us-east-1"
STACK = "detector-test"
API_URL = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/"
TEMPLATE = cfnyaml.load(ROOT / "template.yaml")
FRONTEND_FILES = sorted(p.relative_to(ROOT / "frontend").as_posix()
                        for p in (ROOT / "frontend").rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def test_template_declares_what_publish_reads():
    outputs = TEMPLATE["Outputs"]
    for key in ("ApiUrl", "FrontendBucketName", "FrontendDistributionId", "FrontendUrl"):
        assert key in outputs, key
    assert TEMPLATE["Parameters"]["EnableFrontend"]["Default"] in ("true", "false")
    assert "MaxImageBytes" in TEMPLATE["Parameters"]
    res = TEMPLATE["Resources"]
    # Private bucket, read only by this distribution through OAC.
    pab = res["FrontendBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    origin = res["FrontendDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["FrontendOriginAccessControl", "Id"]}
    allow = [s for s in res["FrontendBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow == [s for s in allow if s["Principal"] == {"Service": "cloudfront.amazonaws.com"}
                     and s["Action"] == "s3:GetObject" and "AWS:SourceArn" in s["Condition"]["StringEquals"]]
    for name in ("FrontendBucket", "FrontendBucketPolicy", "FrontendDistribution", "FrontendOriginAccessControl"):
        assert res[name]["Condition"] == "UseFrontend"


def _deploy_stack(with_frontend=True) -> str:
    """A moto stack with the template's FrontendBucket and publish's outputs; returns the distribution id."""
    cf = boto3.client("cloudfront", region_name=REGION)
    dist = cf.create_distribution(DistributionConfig={
        "CallerReference": "test", "Comment": "page", "Enabled": True, "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 1, "Items": [{"Id": "page", "DomainName": "page.s3.us-east-1.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "page", "ViewerProtocolPolicy": "redirect-to-https"},
    })["Distribution"]
    bucket = TEMPLATE["Resources"]["FrontendBucket"]
    body = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"MaxImageBytes": {"Type": "Number", "Default": str(TEMPLATE["Parameters"]["MaxImageBytes"]["Default"])},
                       "ApiUrl": {"Type": "String"}, "DistId": {"Type": "String"}, "DistDomain": {"Type": "String"}},
        "Resources": {"FrontendBucket": {"Type": "AWS::S3::Bucket", "Properties": bucket["Properties"]}},
        "Outputs": {"ApiUrl": {"Value": {"Ref": "ApiUrl"}}},
    }
    if with_frontend:
        body["Outputs"].update({
            "FrontendBucketName": {"Value": {"Ref": "FrontendBucket"}},
            "FrontendDistributionId": {"Value": {"Ref": "DistId"}},
            "FrontendUrl": {"Value": {"Fn::Sub": "https://${DistDomain}/"}},
        })
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=STACK, TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": "ApiUrl", "ParameterValue": API_URL},
                    {"ParameterKey": "DistId", "ParameterValue": dist["Id"]},
                    {"ParameterKey": "DistDomain", "ParameterValue": dist["DomainName"]}])
    return dist["Id"]


def _clients():
    return dict(cfn=boto3.client("cloudformation", region_name=REGION), s3=boto3.client("s3", region_name=REGION),
                cloudfront=boto3.client("cloudfront", region_name=REGION))


@mock_aws
def test_publish_uploads_the_page_with_types_config_and_invalidation():
    dist = _deploy_stack()
    c = _clients()
    outputs, _ = pub.stack_info(c["cfn"], STACK)
    bucket = outputs["FrontendBucketName"]
    c["s3"].put_object(Bucket=bucket, Key="old-app.js", Body=b"stale")

    logged = []
    result = pub.publish(stack=STACK, log=logged.append, **c)

    keys = sorted(o["Key"] for o in c["s3"].list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(set(FRONTEND_FILES) | {"config.js"})
    assert result["deleted"] == ["old-app.js"]
    for key in keys:
        head = c["s3"].head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == content_type_for(key), key
        assert head["CacheControl"] == ("no-cache" if key in ("index.html", "config.js") else "public, max-age=300")
    assert c["s3"].head_object(Bucket=bucket, Key="index.html")["ContentType"].startswith("text/html")
    assert c["s3"].head_object(Bucket=bucket, Key="app.js")["ContentType"].startswith("text/javascript")
    assert c["s3"].head_object(Bucket=bucket, Key="style.css")["ContentType"].startswith("text/css")
    assert c["s3"].head_object(Bucket=bucket, Key="favicon.svg")["ContentType"] == "image/svg+xml"

    config = c["s3"].get_object(Bucket=bucket, Key="config.js")["Body"].read().decode()
    cfg = json.loads(re.search(r"window\.DETECTOR_CONFIG = (\{.*\});", config, re.S).group(1))
    assert cfg["apiBase"] == API_URL.rstrip("/")
    assert cfg["maxImageBytes"] == int(TEMPLATE["Parameters"]["MaxImageBytes"]["Default"])

    html = c["s3"].get_object(Bucket=bucket, Key="index.html")["Body"].read().decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "connect-src 'self' https://abcdef1234.execute-api.us-east-1.amazonaws.com;" in csp
    assert html.replace(" https://abcdef1234.execute-api.us-east-1.amazonaws.com", "") == \
        (ROOT / "frontend" / "index.html").read_text()
    # Every other file is uploaded byte for byte.
    for key in FRONTEND_FILES:
        if key not in ("index.html", "config.js"):
            assert c["s3"].get_object(Bucket=bucket, Key=key)["Body"].read() == (ROOT / "frontend" / key).read_bytes()

    inv = c["cloudfront"].list_invalidations(DistributionId=dist)["InvalidationList"]
    assert inv["Quantity"] == 1 and result["invalidation"] == inv["Items"][0]["Id"]
    assert result["url"].startswith("https://") and result["url"].endswith(".cloudfront.net/")


@mock_aws
def test_dry_run_changes_nothing():
    _deploy_stack()
    c = _clients()
    bucket = pub.stack_info(c["cfn"], STACK)[0]["FrontendBucketName"]
    result = pub.publish(stack=STACK, dry_run=True, log=lambda *_: None, **c)
    assert "index.html" in result["uploaded"]
    assert c["s3"].list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


@mock_aws
def test_stack_without_the_frontend_is_a_clear_error():
    _deploy_stack(with_frontend=False)
    with pytest.raises(pub.PublishError, match="EnableFrontend=true"):
        pub.publish(stack=STACK, log=lambda *_: None, **_clients())
    with pytest.raises(pub.PublishError, match="not found"):
        pub.publish(stack="no-such-stack", log=lambda *_: None, **_clients())


def test_cli_against_a_moto_server(tmp_path):
    """`python scripts/publish.py --stack ...` (what `make publish` runs), over HTTP to moto's server."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        try:
            _deploy_stack()
            env = dict(os.environ, AWS_ENDPOINT_URL=endpoint)
            proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "publish.py"), "--stack", STACK,
                                   "--region", REGION], env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            assert "page: https://" in proc.stdout and "upload s3://" in proc.stdout
            s3 = boto3.client("s3", region_name=REGION)
            bucket = pub.stack_info(boto3.client("cloudformation", region_name=REGION), STACK)[0]["FrontendBucketName"]
            assert s3.head_object(Bucket=bucket, Key="config.js")["ContentType"].startswith("text/javascript")
            bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "publish.py"), "--stack", "missing",
                                  "--region", REGION], env=env, capture_output=True, text=True, timeout=120)
            assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)
    finally:
        server.stop()
