#!/usr/bin/env python3
"""Publish the web page to the deployed stack (run after `sam deploy`; `make publish`).

    python scripts/publish.py --stack deepfake-detector [--region us-east-1] [--dry-run]

Reads the stack's outputs (ApiUrl, FrontendBucketName, FrontendDistributionId, FrontendUrl) and
parameters (MaxImageBytes), writes ``config.js`` for the page (the API base and the upload limit),
uploads frontend/ to the bucket with the right Content-Type and Cache-Control, removes files that
are no longer in frontend/, and invalidates the CloudFront cache. The page's own CSP meta tag is
widened to the API's origin (connect-src), the only other origin it talks to.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.server import content_type_for  # noqa: E402  (same types as the local gateway)

FRONTEND = ROOT / "frontend"
NO_CACHE = "no-cache"  # index.html and config.js: always revalidated, so a publish shows at once
SHORT_CACHE = "public, max-age=300"


class PublishError(RuntimeError):
    pass


def stack_info(cfn, stack: str) -> tuple[dict, dict]:
    """(outputs, parameters) of a deployed stack, as {key: value}."""
    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:  # botocore ClientError: "Stack with id X does not exist"
        raise PublishError(f"stack {stack!r} not found: {exc}") from exc
    s = stacks[0]
    if not str(s.get("StackStatus", "")).endswith("_COMPLETE") or "ROLLBACK" in s.get("StackStatus", ""):
        raise PublishError(f"stack {stack!r} is {s.get('StackStatus')}; deploy it first (sam deploy)")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in s.get("Parameters", [])}
    return outputs, params


def config_script(outputs: dict, params: dict, stack: str) -> str:
    api = outputs.get("ApiUrl")
    if not api:
        raise PublishError("the stack has no ApiUrl output")
    cfg = {"apiBase": api.rstrip("/"), "source": f"stack {stack}"}
    if params.get("MaxImageBytes"):
        cfg["maxImageBytes"] = int(float(params["MaxImageBytes"]))
    return ("// Written by scripts/publish.py from the stack's outputs; do not edit in the bucket.\n"
            "window.DETECTOR_CONFIG = " + json.dumps(cfg, indent=2) + ";\n")


def widen_csp(html: str, api_url: str) -> str:
    """Let the page's CSP meta tag connect to the API's origin (and nothing else)."""
    parts = urlsplit(api_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if "connect-src 'self';" not in html:
        raise PublishError("frontend/index.html: CSP meta tag without \"connect-src 'self';\"")
    return html.replace("connect-src 'self';", f"connect-src 'self' {origin};", 1)


def page_files(frontend: Path) -> list[Path]:
    files = [p for p in sorted(frontend.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    if not (frontend / "index.html").is_file():
        raise PublishError(f"{frontend}/index.html missing")
    return files


def publish(*, cfn, s3, cloudfront, stack: str, frontend: Path = FRONTEND, dry_run: bool = False,
            log=print) -> dict:
    outputs, params = stack_info(cfn, stack)
    bucket = outputs.get("FrontendBucketName")
    if not bucket:
        raise PublishError(f"stack {stack!r} has no FrontendBucketName output: deploy with "
                           "--parameter-overrides EnableFrontend=true")
    config = config_script(outputs, params, stack)
    uploads: dict[str, tuple[bytes, str, str]] = {}
    for path in page_files(frontend):
        key = path.relative_to(frontend).as_posix()
        if key == "config.js":
            continue  # the local default; replaced by the stack's
        data = path.read_bytes()
        if key == "index.html":
            data = widen_csp(data.decode("utf-8"), outputs["ApiUrl"]).encode("utf-8")
        cache = NO_CACHE if key.endswith(".html") else SHORT_CACHE
        uploads[key] = (data, content_type_for(key), cache)
    uploads["config.js"] = (config.encode("utf-8"), content_type_for("config.js"), NO_CACHE)

    for key, (data, ctype, cache) in sorted(uploads.items()):
        log(f"{'would upload' if dry_run else 'upload'} s3://{bucket}/{key}  {ctype}  {len(data)} B")
        if not dry_run:
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=ctype, CacheControl=cache)

    stale = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in uploads]
    for i in range(0, len(stale), 1000):
        log(f"{'would delete' if dry_run else 'delete'} {len(stale[i:i + 1000])} stale object(s)")
        if not dry_run:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[i:i + 1000]],
                                                     "Quiet": True})

    invalidation = None
    dist = outputs.get("FrontendDistributionId")
    if dist and not dry_run:
        invalidation = cloudfront.create_invalidation(
            DistributionId=dist,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]},
                               "CallerReference": f"publish-{time.time_ns()}"},
        )["Invalidation"]["Id"]
        log(f"invalidate CloudFront {dist} /* ({invalidation})")
    url = outputs.get("FrontendUrl")
    log(f"page: {url or '(no FrontendUrl output)'}  API: {outputs['ApiUrl']}")
    return {"bucket": bucket, "uploaded": sorted(uploads), "deleted": stale, "invalidation": invalidation,
            "url": url, "config": config}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="CloudFormation stack name (samconfig.toml's stack_name)")
    ap.add_argument("--region", default=None)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--frontend", type=Path, default=FRONTEND)
    ap.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    args = ap.parse_args(argv)
    import boto3

    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    try:
        publish(cfn=session.client("cloudformation"), s3=session.client("s3"),
                cloudfront=session.client("cloudfront"), stack=args.stack, frontend=args.frontend,
                dry_run=args.dry_run)
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
