"""Template security: cfn-lint and checkov on template.yaml, plus the project's own control checks.

    make security    # python -m hardening.security

Both scanners run on the template as deployed by default and on a variant with every optional
part switched on (API key, WAF, audit bucket, S3 model): conditional resources are invisible to a
scanner otherwise. checkov runs from its own virtualenv (.venv-checkov, requirements/checkov.txt):
it pins libraries the main one also uses. Suppressions live in template.yaml, next to the
resource, each with its reason (``Metadata: checkov: skip: - id, comment``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import yaml

from . import harness

ROOT = harness.ROOT
TEMPLATE = os.path.join(ROOT, "template.yaml")
CHECKOV = os.path.join(ROOT, ".venv-checkov", "bin", "checkov")
ALL_ON = {
    "RequireApiKey": '"true"',
    "EnableWaf": '"true"',
    "EnableAudit": '"true"',
    "AuditStoreImages": '"true"',
    "ModelS3Uri": '"s3://example-models/detector/model.tflite"',
}


def all_on_variant(out_dir: str) -> str:
    """template.yaml with every optional part's parameter default switched on."""
    with open(TEMPLATE) as fh:
        text = fh.read()
    for name, value in ALL_ON.items():
        pattern = re.compile(r"(\n  %s:\n(?:    .*\n)*?    Default: )([^\n]*)" % re.escape(name))
        text, n = pattern.subn(lambda m: m.group(1) + value, text, count=1)
        if n != 1:
            raise ValueError(f"parameter {name} with a Default not found in template.yaml")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "template-all-on.yaml")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def _cfn_lint_bin() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    return here if os.path.exists(here) else (shutil.which("cfn-lint") or "cfn-lint")


def cfn_lint(paths: list[str]) -> dict:
    exe = _cfn_lint_bin()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    findings = []
    for path in paths:
        proc = subprocess.run([exe, "--format", "json", path], capture_output=True, text=True)
        try:
            items = json.loads(proc.stdout or "[]")
        except ValueError:
            items = [{"Rule": {"Id": "?"}, "Message": proc.stdout[:500] + proc.stderr[:500]}]
        for item in items:
            findings.append({"template": os.path.basename(path), "rule": item.get("Rule", {}).get("Id"),
                             "message": item.get("Message", "")[:300]})
    return {"version": version, "findings": len(findings), "details": findings}


def checkov(paths: list[str]) -> dict:
    if not os.path.exists(CHECKOV):
        raise FileNotFoundError(f"{CHECKOV} missing: make checkov-venv")
    version = subprocess.run([CHECKOV, "--version"], capture_output=True, text=True).stdout.strip()
    passed = failed = skipped = 0
    failures, suppressions = [], {}
    for path in paths:
        proc = subprocess.run(
            [CHECKOV, "-f", path, "--framework", "cloudformation", "-o", "json", "--skip-download"],
            capture_output=True, text=True, env=dict(os.environ, BC_SKIP_MAPPING="TRUE"),
        )
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise RuntimeError(f"checkov gave no JSON for {path}: {proc.stdout[-800:]} {proc.stderr[-800:]}")
        reports = report if isinstance(report, list) else [report]
        for rep in reports:
            results = rep.get("results", {})
            passed += len(results.get("passed_checks", []))
            for chk in results.get("failed_checks", []):
                failed += 1
                failures.append({"template": os.path.basename(path), "id": chk["check_id"], "resource": chk["resource"],
                                 "name": chk.get("check_name")})
            for chk in results.get("skipped_checks", []):
                skipped += 1
                key = (chk["check_id"], chk["resource"])
                suppressions[key] = {"id": chk["check_id"], "resource": chk["resource"].split(".")[-1],
                                     "comment": (chk.get("check_result") or {}).get("suppress_comment", "")}
    return {"version": version, "passed": passed, "failed": failed, "skipped": skipped,
            "failures": failures, "suppressions": sorted(suppressions.values(), key=lambda s: (s["resource"], s["id"]))}


# --------------------------------------------------------------------------- own controls
def _load(path: str) -> dict:
    class Loader(yaml.SafeLoader):
        pass

    def tag(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {("Ref" if suffix == "Ref" else f"Fn::{suffix}"): value}

    Loader.add_multi_constructor("!", tag)
    with open(path) as fh:
        return yaml.load(fh, Loader=Loader)


def _statements(policy_list) -> list[dict]:
    out = []

    def walk(node):
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                out.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(policy_list)
    return out


def controls(path: str = TEMPLATE) -> list[str]:
    """Assert the template's security controls; returns them as sentences (AssertionError if one fails)."""
    t = _load(path)
    res = t["Resources"]
    found = []

    # IAM: least privilege
    fn = next(r for r in res.values() if r.get("Type") == "AWS::Serverless::Function")
    stmts = _statements(fn["Properties"].get("Policies", []))
    for st in stmts:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert st["Effect"] == "Allow" and all("*" not in a for a in actions), f"wildcard action {st}"
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert all(r != "*" for r in resources), f"Resource * in {st}"
    assert {a for st in stmts for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])} <= {"s3:GetObject", "s3:PutObject"}
    assert not any(r.get("Type") in ("AWS::IAM::User", "AWS::IAM::AccessKey") for r in res.values())
    found.append("IAM: the function's own policies allow only s3:GetObject on the S3 model and its card (when "
                 "ModelS3Uri is set) and s3:PutObject into the audit bucket (when EnableAudit); no wildcard "
                 "action, no Resource \"*\", no users or access keys; logs go to a log group with a retention.")

    # Buckets: private, encrypted, TLS only
    buckets = {k: r for k, r in res.items() if r.get("Type") == "AWS::S3::Bucket"}
    policies = [r for r in res.values() if r.get("Type") == "AWS::S3::BucketPolicy"]
    for name, b in buckets.items():
        props = b["Properties"]
        pab = props["PublicAccessBlockConfiguration"]
        assert all(pab[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")), name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse")
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced", name
        assert "AccessControl" not in props, f"{name}: ACLs"
        assert props.get("VersioningConfiguration", {}).get("Status") == "Enabled", f"{name}: versioning"
        pol = next(p for p in policies if p["Properties"]["Bucket"] == {"Ref": name})
        sts = pol["Properties"]["PolicyDocument"]["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false" for s in sts), name
        assert any(s["Effect"] == "Deny" and s["Condition"].get("NumericLessThan", {}).get("s3:TlsVersion") == "1.2" for s in sts), name
        assert not any(s["Effect"] == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}) for s in sts), f"{name}: public allow"
    found.append(f"S3 ({', '.join(buckets) or 'no bucket'}): all four public-access blocks on, ACLs disabled "
                 "(BucketOwnerEnforced), encrypted by default (SSE), versioned with expiring noncurrent versions, and a "
                 "policy denying any request without TLS (aws:SecureTransport) or with TLS older than 1.2.")

    # Throttling and gateway errors
    api = next(r for r in res.values() if r.get("Type") == "AWS::Serverless::Api")["Properties"]
    ms = api["MethodSettings"][0]
    assert ms["ResourcePath"] == "/*" and ms["HttpMethod"] == "*" and "ThrottlingRateLimit" in ms and "ThrottlingBurstLimit" in ms
    responses = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    for kind in ("THROTTLED", "REQUEST_TOO_LARGE", "DEFAULT_4XX", "DEFAULT_5XX"):
        assert '"error"' in responses[kind]["responseTemplates"]["application/json"], kind
    assert api["DefinitionBody"].get("schemes") == ["https"]
    found.append("API Gateway: HTTPS only (execute-api), stage-wide throttling on every method and path "
                 "(ThrottleRateLimit/ThrottleBurstLimit, 10/s and 20 by default), an optional API key with a "
                 "usage plan (RequireApiKey), and the gateway's own errors (throttled, too large, 4xx, 5xx) as "
                 "the API's JSON error shape.")

    # WAF
    acl = next(r for r in res.values() if r.get("Type") == "AWS::WAFv2::WebACL")["Properties"]
    names = {r["Name"]: r for r in acl["Rules"]}
    assert "RateBasedStatement" in names["UploadsPerIp"]["Statement"]
    assert names["UploadsPerIp"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    assert names["OversizedBody"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 413
    assert names["KnownBadInputs"]["Statement"]["ManagedRuleGroupStatement"]["Name"] == "AWSManagedRulesKnownBadInputsRuleSet"
    for key in ("RateLimited", "TooLarge"):
        assert set(json.loads(acl["CustomResponseBodies"][key]["Content"])["error"]) == {"code", "message"}
    found.append("WAF (EnableWaf): a per-IP rate rule on uploads (429, JSON), an OversizedBody rule that answers "
                 "a JSON 413 for bodies Lambda's 6 MB event limit would otherwise turn into a 502, and AWS's "
                 "known-bad-inputs rule group.")
    return found


def oversize_regexes(path: str = TEMPLATE) -> list[str]:
    acl = next(r for r in _load(path)["Resources"].values() if r.get("Type") == "AWS::WAFv2::WebACL")["Properties"]
    rule = next(r for r in acl["Rules"] if r["Name"] == "OversizedBody")
    out = []

    def walk(node):
        if isinstance(node, dict):
            if "RegexString" in node:
                out.append(node["RegexString"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(rule["Statement"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="artifacts/security.json")
    args = ap.parse_args(argv)
    variant = all_on_variant(os.path.join(ROOT, "artifacts"))
    paths = [TEMPLATE, variant]
    lint = cfn_lint(paths)
    chk = checkov(paths)
    found = controls(TEMPLATE)
    result = {"cfn_lint": lint, "checkov": chk, "controls": found,
              "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    path = args.json if os.path.isabs(args.json) else os.path.join(ROOT, args.json)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"cfn-lint {lint['version']}: {lint['findings']} findings on template.yaml and the all-options variant")
    for f in lint["details"][:10]:
        print(f"  {f['template']} {f['rule']}: {f['message']}")
    print(f"checkov {chk['version']}: {chk['passed']} passed, {chk['failed']} failed, {chk['skipped']} suppressed")
    for f in chk["failures"]:
        print(f"  FAILED {f['id']} {f['resource']} ({f['template']}): {f['name']}")
    for s in chk["suppressions"]:
        print(f"  suppressed {s['id']} on {s['resource']}: {s['comment']}")
    for line in found:
        print(f"  ok: {line}")
    return 0 if lint["findings"] == 0 and chk["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
