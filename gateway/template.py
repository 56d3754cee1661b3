"""Settings of the deployed API, read from template.yaml (never duplicated as constants here).

What the local gateway takes from the template: the stage's throttle (rate and burst), the API's
binary media types, the detect function's API routes, its environment variables, memory and
timeout, and the stage name. ``!Ref`` to a parameter resolves to the parameter's Default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import cfnyaml

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "local",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class TemplateError(ValueError):
    pass


@dataclass
class Route:
    method: str  # upper case, or "ANY"
    resource: str  # e.g. "/predict" or "/{proxy+}"

    def match(self, method: str, path: str) -> dict | None:
        """Return the path parameters when (method, path) hits this route, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        want = [p for p in self.resource.split("/") if p]
        got = [p for p in path.split("/") if p]
        params: dict = {}
        for i, part in enumerate(want):
            if part.startswith("{") and part.endswith("+}"):
                if i >= len(got):
                    return None
                params[part[1:-2]] = "/".join(got[i:])
                return params
            if i >= len(got):
                return None
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = got[i]
            elif part != got[i]:
                return None
        return params if len(got) == len(want) else None

    @property
    def greedy(self) -> bool:
        return "+}" in self.resource


@dataclass
class GatewayResponse:
    """One ``x-amazon-apigateway-gateway-responses`` entry (status, headers, body template)."""

    status: int | None = None
    headers: dict = field(default_factory=dict)
    template: str | None = None  # the application/json response template


@dataclass
class ApiSettings:
    rate: float
    burst: int
    binary_media_types: list[str]
    routes: list[Route]
    stage: str = "Prod"
    environment: dict = field(default_factory=dict)
    function_name: str = "DetectFunction"
    memory_mb: int = 128
    timeout_s: float = 3.0
    max_image_bytes: int | None = None
    gateway_responses: dict = field(default_factory=dict)  # response type -> GatewayResponse


def resolve(tpl: dict, value):
    """Literal value, or a ``Ref`` to a parameter (its Default) / pseudo parameter; None if not static."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            name = value["Ref"]
            if name in PSEUDO:
                return PSEUDO[name]
            param = (tpl.get("Parameters") or {}).get(name)
            if param is None or "Default" not in param:
                return None
            return param["Default"]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return _sub(tpl, value["Fn::Sub"])
        return None
    if isinstance(value, list):
        return [resolve(tpl, v) for v in value]
    return value


def _sub(tpl: dict, text: str):
    """``!Sub`` of parameters and pseudo parameters only (None if it names a resource)."""
    out, i = [], 0
    while i < len(text):
        j = text.find("${", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = text.find("}", j)
        if k < 0:
            return None
        name = text[j + 2:k]
        if name.startswith("!"):
            out.append("${" + name[1:] + "}")
        else:
            val = resolve(tpl, {"Ref": name})
            if val is None or isinstance(val, (dict, list)):
                return None
            out.append(str(val))
        i = k + 1
    return "".join(out)


def _walk(node, key):
    """Yield every value stored under ``key`` anywhere in the tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def _first_static(tpl, keys):
    for key in keys:
        for raw in _walk(tpl.get("Resources", {}), key):
            val = resolve(tpl, raw)
            if val is not None:
                return val
        for raw in _walk(tpl.get("Globals", {}), key):
            val = resolve(tpl, raw)
            if val is not None:
                return val
    return None


def _detect_function(tpl: dict) -> tuple[str, dict]:
    """The function whose handler is functions/detect/app.py's lambda_handler."""
    found = []
    for name, res in (tpl.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties") or {}
        code = str(props.get("CodeUri") or "")
        handler = str(props.get("Handler") or "")
        if "functions/detect" in code or handler == "app.lambda_handler":
            found.append((name, props))
    if not found:
        raise TemplateError("template.yaml has no AWS::Serverless::Function for functions/detect")
    return found[0]


def _throttle(tpl: dict) -> tuple[float, float]:
    rate = _first_static(tpl, ["ThrottlingRateLimit", "RateLimit"])
    burst = _first_static(tpl, ["ThrottlingBurstLimit", "BurstLimit"])
    if rate is None or burst is None:
        raise TemplateError(
            "template.yaml sets no static throttle (MethodSettings ThrottlingRateLimit/ThrottlingBurstLimit "
            "as a literal or a !Ref to a parameter with a Default)")
    return float(rate), float(burst)


def _binary_types(tpl: dict) -> list[str]:
    for raw in _walk(tpl.get("Resources", {}), "BinaryMediaTypes"):
        vals = resolve(tpl, raw)
        if isinstance(vals, list):
            return [str(v).replace("~1", "/") for v in vals if v is not None]
    for raw in _walk(tpl.get("Globals", {}), "BinaryMediaTypes"):
        vals = resolve(tpl, raw)
        if isinstance(vals, list):
            return [str(v).replace("~1", "/") for v in vals if v is not None]
    return []


def _stage(tpl: dict) -> str:
    stage = _first_static(tpl, ["StageName"])
    return str(stage) if stage else "Prod"


def _environment(tpl: dict, props: dict) -> dict:
    env: dict = {}
    blocks = [((tpl.get("Globals") or {}).get("Function") or {}).get("Environment"), props.get("Environment")]
    for block in blocks:
        variables = (block or {}).get("Variables") or {}
        for k, raw in variables.items():
            val = resolve(tpl, raw)
            if val is None or isinstance(val, (dict, list)):
                continue  # not static (e.g. !GetAtt): leave unset
            env[k] = "true" if val is True else "false" if val is False else str(val)
    return env


def _function_prop(tpl: dict, props: dict, key: str):
    val = resolve(tpl, props.get(key)) if key in props else None
    if val is None:
        val = resolve(tpl, ((tpl.get("Globals") or {}).get("Function") or {}).get(key))
    return val


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}


def _integration_targets(integration, function: str) -> bool:
    uri = (integration or {}).get("uri")
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    if isinstance(text, list):
        text = text[0]
    return isinstance(text, str) and (f"${{{function}.Arn}}" in text or f"${{{function}}}" in text)


def _definition_routes(tpl: dict, function: str) -> tuple[list[Route], dict]:
    """Routes (and gateway responses) of an OpenAPI DefinitionBody whose integrations call ``function``."""
    routes: list[Route] = []
    responses: dict = {}
    for res in (tpl.get("Resources") or {}).values():
        if not isinstance(res, dict) or res.get("Type") not in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            continue
        props = res.get("Properties") or {}
        body = props.get("DefinitionBody") or props.get("Body")
        if not isinstance(body, dict):
            continue
        for path, ops in (body.get("paths") or {}).items():
            for verb, op in (ops or {}).items():
                if not isinstance(op, dict):
                    continue
                if not _integration_targets(op.get("x-amazon-apigateway-integration"), function):
                    continue
                if verb == "x-amazon-apigateway-any-method":
                    routes.append(Route("ANY", path))
                elif verb.lower() in _METHODS:
                    routes.append(Route(verb.upper(), path))
        for rtype, spec in (body.get("x-amazon-apigateway-gateway-responses") or {}).items():
            spec = spec or {}
            headers = {}
            for key, raw in (spec.get("responseParameters") or {}).items():
                val = resolve(tpl, raw)
                if key.startswith("gatewayresponse.header.") and isinstance(val, str):
                    headers[key[len("gatewayresponse.header."):]] = val.strip("'")
            templates = spec.get("responseTemplates") or {}
            status = resolve(tpl, spec.get("statusCode"))
            responses[rtype] = GatewayResponse(
                status=int(status) if status is not None else None,
                headers=headers,
                template=templates.get("application/json"),
            )
    return routes, responses


def load_settings(path: str | Path) -> ApiSettings:
    tpl = cfnyaml.load(path)
    if not isinstance(tpl, dict):
        raise TemplateError(f"{path} is not a template")
    name, props = _detect_function(tpl)
    routes = []
    for ev in (props.get("Events") or {}).values():
        if not isinstance(ev, dict) or ev.get("Type") != "Api":
            continue
        p = ev.get("Properties") or {}
        method = str(resolve(tpl, p.get("Method")) or "ANY").upper()
        routes.append(Route("ANY" if method == "ANY" else method, str(resolve(tpl, p.get("Path")))))
    more, gateway_responses = _definition_routes(tpl, name)
    routes.extend(more)
    if not routes:
        raise TemplateError(f"no API route of {path} reaches {name}")
    rate, burst = _throttle(tpl)
    env = _environment(tpl, props)
    max_bytes = None
    for key in ("MAX_IMAGE_BYTES", "MAX_BYTES"):
        if key in env:
            try:
                max_bytes = int(float(env[key]))
            except ValueError:
                pass
            break
    return ApiSettings(
        rate=rate,
        burst=int(burst),
        binary_media_types=_binary_types(tpl),
        routes=routes,
        stage=_stage(tpl),
        environment=env,
        function_name=name,
        memory_mb=int(_function_prop(tpl, props, "MemorySize") or 128),
        timeout_s=float(_function_prop(tpl, props, "Timeout") or 3),
        max_image_bytes=max_bytes,
        gateway_responses=gateway_responses,
    )
