"""Check real answers against docs/openapi.yaml, the API's single description.

``Contract().check(method, path, status, body_json, headers)`` raises ``AssertionError`` naming
what does not fit: an undocumented status for that operation, a body that fails the documented
schema (OpenAPI 3.0 semantics, via openapi-schema-validator), or a missing documented header.
"""
from __future__ import annotations

import copy
import os

import yaml
from openapi_schema_validator import OAS30Validator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENAPI_PATH = os.path.join(ROOT, "docs", "openapi.yaml")


def _resolve(node, doc, seen=()):
    """Inline every local ``$ref`` (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise ValueError(f"cyclic $ref {ref}")
            target = doc
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return _resolve(copy.deepcopy(target), doc, seen + (ref,))
        return {k: _resolve(v, doc, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, doc, seen) for v in node]
    return node


class Contract:
    def __init__(self, path: str = OPENAPI_PATH):
        with open(path) as fh:
            self.raw = yaml.safe_load(fh)
        self.doc = _resolve(self.raw, self.raw)

    def operation(self, method: str, path: str) -> dict | None:
        item = self.doc["paths"].get(path)
        if item is None:
            return None
        method = method.lower()
        if method == "head":
            method = "get" if "head" not in item else "head"
        return item.get(method)

    def response_spec(self, method: str, path: str, status: int) -> dict:
        """The documented response for this request and status (AssertionError if none)."""
        if path not in self.doc["paths"]:
            if status != 404:
                raise AssertionError(f"{method} {path}: an unknown path must be 404, got {status}")
            return self.doc["components"]["responses"]["NotFound"]
        op = self.operation(method, path)
        if op is None:
            if status != 405:
                raise AssertionError(f"{method} {path}: an undocumented method must be 405, got {status}")
            return self.doc["components"]["responses"]["MethodNotAllowed"]
        spec = op["responses"].get(str(status))
        if spec is None:
            raise AssertionError(
                f"{method} {path} answered {status}, which the document does not list "
                f"({', '.join(sorted(op['responses']))})"
            )
        return spec

    def check(self, method: str, path: str, status: int, body, headers: dict | None = None) -> None:
        spec = self.response_spec(method, path, status)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        for name in (spec.get("headers") or {}):
            if name.lower() not in headers:
                raise AssertionError(f"{method} {path} {status}: header {name} missing")
        content = spec.get("content")
        if method.upper() == "HEAD" or not content:
            if content is None and body not in (None, "", b""):
                raise AssertionError(f"{method} {path} {status}: documented without a body, got {body!r:.100}")
            return
        schema = content["application/json"]["schema"]
        if body is None:
            raise AssertionError(f"{method} {path} {status}: no JSON body")
        errors = sorted(OAS30Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            detail = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message[:160]}" for e in errors[:5])
            raise AssertionError(f"{method} {path} {status}: body does not fit the document: {detail}")

    def documented_statuses(self) -> dict[tuple[str, str], list[int]]:
        out = {}
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                if method in ("get", "post", "put", "delete", "patch", "head", "options"):
                    out[(method.upper(), path)] = sorted(int(s) for s in op["responses"])
        return out
