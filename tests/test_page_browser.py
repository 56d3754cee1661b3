"""The page in real Chromium (Debian's /usr/bin/chromium driven by Playwright) against the local
gateway with the real handler and model: verdict, metadata and chart for real faces, the API's
error for a text file named .jpg, the throttle's 429 with its countdown and the retry, a network
failure's retry button, drag-drop and paste, and the in-browser limits. Screenshots of every state
go to artifacts/screenshots/.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.apigw import Gateway, TokenBucket  # noqa: E402
from gateway.server import make_server  # noqa: E402
from gateway.template import load_settings  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

FACES = ROOT.parent / "shared" / "data" / "faces"
FACE_MODELS = ROOT / "layers" / "model" / "faces"
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"]


def _faces(n_per_kind=1):
    out = []
    for kind in ("fake", "real"):
        for group in ("ffhq-stylegan", "mesonet-df"):
            files = sorted((FACES / group / kind).glob("*.jpg"))[:n_per_kind]
            assert files, f"no faces in {FACES / group / kind}"
            out += files
    return out


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        msg = f"Chromium missing at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def handler(template_handler):
    """functions/detect/app.py's lambda_handler with the test model and the template's environment."""
    return template_handler()


class Live:
    def __init__(self, handler, rate=None, burst=None, clock=None):
        self.settings = load_settings(ROOT / "template.yaml")
        rate = self.settings.rate if rate is None else rate
        burst = self.settings.burst if burst is None else burst
        bucket = TokenBucket(rate, burst, clock=clock) if clock else TokenBucket(rate, burst)
        self.gateway = Gateway(handler=handler, settings=self.settings, bucket=bucket)
        self.httpd = make_server("127.0.0.1", 0, self.gateway)
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def live(handler):
    """A gateway on a free port with the template's throttle."""
    lv = Live(handler)
    yield lv
    lv.close()


@pytest.fixture
def card_live(template_handler, model_path, tmp_path_factory):
    """Factory: ``card_live(**card_changes)`` -> a gateway (template throttle, face models on) serving
    the served .tflite with a copy of its card changed, e.g. ``threshold=0.3`` or ``verdict_policy=
    {...}`` (the card's sha256 is the .tflite's, which is copied unchanged). The page must work
    with any card: tests that need a definite REAL / UNCERTAIN / FAKE answer set the card so."""
    lives = []

    def make(**changes):
        folder = tmp_path_factory.mktemp("card")
        shutil.copyfile(model_path, folder / "model.tflite")
        card = json.loads(model_path.with_suffix(".json").read_text(encoding="utf-8"))
        card.update(changes)
        (folder / "model.json").write_text(json.dumps(card), encoding="utf-8")
        lv = Live(template_handler(MODEL_PATH=folder / "model.tflite", FACE_MODEL_DIR=FACE_MODELS))
        lives.append(lv)
        return lv

    yield make
    for lv in lives:
        lv.close()


class ManualClock:
    """The throttle's clock, moved by the test: a slow machine cannot refill the bucket by itself."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def tight(handler):
    """A gateway with a tiny throttle (burst 1, rate 1/s) whose time advances only when told."""
    lv = Live(handler, rate=1, burst=1, clock=ManualClock())
    yield lv
    lv.close()


@pytest.fixture
def page_at(browser):
    contexts = []

    def open_page(url, width=1200, height=900):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.requests_seen = []
        page.errors = []
        page.on("request", lambda r: page.requests_seen.append(r.url))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
                and page.errors.append(m.text))
        page.goto(url)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def api_answer(live, data: bytes, mime="image/jpeg"):
    body = json.dumps({"image": f"data:{mime};base64," + base64.b64encode(data).decode()}).encode()
    req = urllib.request.Request(live.url + "predict", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def expected_confidence(answer):
    """docs/page.md's Confidence rule, from the answer: an uncertain verdict is low; otherwise the
    distance of P(fake) from the threshold as a share of the room on that side of it (< 1/3 low,
    < 2/3 medium, else high), with the distance in points of P(fake)."""
    p, t = answer["fake_probability"], answer["threshold"]
    if answer["verdict"] == "uncertain":
        return "low", "Low: the answer is uncertain"
    share = abs(p - t) / ((1 - t) if p >= t else t)
    level = "low" if share < 1 / 3 else "medium" if share < 2 / 3 else "high"
    gap = 100 * abs(p - t)
    return level, (f"{level.capitalize()}: P(fake) is {gap:.{1 if gap < 1 else 0}f} points "
                   f"{'above' if p >= t else 'below'} the threshold")


def wait_history(page, n, timeout=30_000):
    """Wait until the session history holds n images (DOM polling: the page's CSP forbids eval)."""
    page.locator("#history li").nth(n - 1).wait_for(timeout=timeout)
    assert page.locator("#history li").count() == n


def only_local(page, live):
    foreign = [u for u in page.requests_seen if not u.startswith((live.url, "data:", "blob:"))]
    assert not foreign, f"requests to other origins: {foreign}"


# --------------------------------------------------------------------------- tests
def test_real_faces_give_verdict_bar_metadata_and_history_chart(page_at, live):
    page = page_at(live.url)
    assert page.title() == "Deepfake image detector"
    faces = _faces()
    for i, face in enumerate(faces, start=1):
        page.set_input_files("#file", str(face))
        wait_history(page, i)
        page.wait_for_selector("[data-testid=verdict]")
    results = page.evaluate("window.detectorPage.history()")
    assert len(results) == len(faces)
    # What the page shows is what the API answers for the same bytes.
    status, direct = api_answer(live, faces[-1].read_bytes())
    assert status == 200
    last = results[-1]
    assert last["fake_probability"] == direct["fake_probability"] and last["verdict"] == direct["verdict"]
    assert page.inner_text("[data-testid=verdict] .badge") == direct["verdict"].upper()
    assert page.get_attribute("[data-testid=verdict]", "data-verdict") == direct["verdict"]
    assert direct["verdict_reason"] in page.inner_text("[data-testid=verdict-reason]")
    bar = page.locator("[data-testid=probability-bar]")
    assert float(bar.get_attribute("aria-valuenow")) == pytest.approx(100 * direct["fake_probability"], abs=0.051)
    marker_left = page.eval_on_selector("[data-testid=threshold-marker]", "e => e.style.left")
    assert float(marker_left.split("calc(", 1)[1].split("%", 1)[0]) == pytest.approx(100 * direct["threshold"])
    level, words = expected_confidence(direct)
    assert page.get_attribute("[data-testid=confidence]", "data-level") == level
    assert page.inner_text("[data-testid=confidence]") == words
    assert direct["model"]["name"] in page.inner_text("#result")
    assert "inference" in page.inner_text("[data-testid=timings]")
    meta = page.inner_text("[data-testid=metadata]")
    assert "JPEG" in meta and f"{direct['metadata']['bytes']:,} bytes" in meta
    assert f"{direct['metadata']['width']} × {direct['metadata']['height']} px" in meta
    for label in ("Camera", "Software", "Generator hints", "Provenance", "Megapixels"):
        assert label in meta
    # History: one row (with a thumbnail) and one chart point per image, colours by verdict.
    assert page.locator("#history li").count() == len(faces)
    assert page.locator("#history li img").count() == len(faces)
    assert page.locator("[data-testid=chart-point]").count() == len(faces)
    assert page.locator("[data-testid=chart-threshold]").count() == 1
    counts = {v: sum(r["verdict"] == v for r in results) for v in ("real", "uncertain", "fake")}
    for v, n in counts.items():
        assert page.locator(f"circle.pt-{v}").count() == n
        assert page.locator(f"#history .pill.{v}").count() == n
    assert (f"{len(faces)} images analysed: {counts['fake']} FAKE, {counts['uncertain']} UNCERTAIN, "
            f"{counts['real']} REAL") in page.text_content("#chart desc")
    # Clicking an older row shows its result again.
    page.locator("#history li button").last.click()
    assert page.inner_text("[data-testid=verdict] .badge") == results[0]["verdict"].upper()
    assert not page.errors, page.errors
    only_local(page, live)
    shot(page, "result-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)  # the chart redraws for the narrower box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    shot(page, "result-phone")


def test_text_file_named_jpg_shows_the_apis_error(page_at, live, tmp_path):
    page = page_at(live.url)
    text = b"These are notes, not a photo.\n" * 20
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(text)
    status, direct = api_answer(live, text)
    assert status == 415
    page.set_input_files("#file", str(fake))
    page.wait_for_selector("#alert:not([hidden])")
    alert = page.inner_text("#alert")
    assert direct["error"]["message"].rstrip(".") in alert
    assert "HTTP 415" in alert and direct["error"]["code"] in alert
    assert "Not an image" in page.inner_text("#alert-title")
    assert page.locator("#retry").is_hidden()  # retrying the same bytes cannot help
    assert "No result" in page.inner_text("#result")
    assert any(u.endswith("/predict") for u in page.requests_seen)  # the API decided, not the page
    shot(page, "error-not-an-image")


def test_throttle_429_shows_countdown_then_the_retry_succeeds(page_at, tight):
    page = page_at(tight.url)
    statuses = []
    page.on("response", lambda r: r.url.endswith("/predict") and statuses.append(r.status))
    a, b = _faces()[:2]
    page.set_input_files("#file", str(a))
    wait_history(page, 1)
    page.set_input_files("#file", str(b))  # the bucket is empty now
    page.wait_for_selector("#countdown:not([hidden])")
    assert "Too many requests" in page.inner_text("#alert-title")
    countdown = page.inner_text("#countdown")
    assert countdown.startswith("Retrying in ") and " s (retry 1 of 5)" in countdown
    shot(page, "throttled-countdown")
    tight.gateway.bucket.clock.now += 1.0  # one second later: one token; the page's next retry gets it
    wait_history(page, 2, timeout=60_000)
    assert statuses[0] == 200 and 429 in statuses and statuses[-1] == 200
    assert page.locator("#alert").is_hidden()
    assert page.locator("[data-testid=chart-point]").count() == 2
    shot(page, "throttled-then-succeeded")


def test_network_failure_offers_retry(page_at, live):
    page = page_at(live.url)
    page.route("**/predict", lambda route: route.abort("connectionrefused"))
    page.set_input_files("#file", str(_faces()[0]))
    page.wait_for_selector("#retry:not([hidden])")
    assert "Could not reach the API" in page.inner_text("#alert-title")
    assert "No result yet" in page.inner_text("#result")
    shot(page, "network-error")
    page.unroute("**/predict")
    page.click("#retry")
    wait_history(page, 1)
    assert page.locator("#alert").is_hidden()


def test_drag_drop_and_paste(page_at, live):
    page = page_at(live.url)
    faces = _faces()[:2]
    payloads = [base64.b64encode(f.read_bytes()).decode() for f in faces]
    make_file = """([b64, name]) => {
        const bin = atob(b64); const u8 = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
        const dt = new DataTransfer(); dt.items.add(new File([u8], name, {type: 'image/jpeg'})); return dt; }"""
    dt = page.evaluate_handle(make_file, [payloads[0], faces[0].name])
    page.dispatch_event("#drop", "dragover", {"dataTransfer": dt})
    page.dispatch_event("#drop", "drop", {"dataTransfer": dt})
    wait_history(page, 1)
    page.evaluate("""([b64, name]) => {
        const bin = atob(b64); const u8 = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
        const dt = new DataTransfer(); dt.items.add(new File([u8], name, {type: 'image/jpeg'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
    }""", [payloads[1], faces[1].name])
    wait_history(page, 2)
    names = page.inner_text("#history")
    assert faces[0].name in names and faces[1].name in names


def test_browser_checks_type_and_size_before_sending(page_at, live):
    page = page_at(live.url)
    limit = page.evaluate("window.detectorPage.config.maxImageBytes")
    assert limit == live.settings.max_image_bytes  # from template.yaml via the gateway's config.js
    page.set_input_files("#file", files=[{"name": "big.png", "mimeType": "image/png", "buffer": b"\0" * (limit + 1)}])
    page.wait_for_selector("#alert:not([hidden])")
    assert "Image too large" in page.inner_text("#alert-title") and "4.5 MB" in page.inner_text("#alert")
    assert "big.png" in page.inner_text("#result") and page.locator("#preview").is_hidden()
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    assert "Not a supported image type" in page.inner_text("#alert-title")
    assert "notes.txt" in page.inner_text("#result") and "big.png" not in page.inner_text("#result")
    assert not any(u.endswith("/predict") for u in page.requests_seen)
    shot(page, "error-too-large-or-wrong-type")


def test_accessibility_basics(page_at, live):
    page = page_at(live.url, width=390, height=844)
    assert page.get_attribute("#result", "aria-live") == "polite"
    assert page.get_attribute("#status", "role") == "status"
    assert page.get_attribute("#alert", "role") == "alert"
    assert page.get_by_label("Choose an image").count() == 1  # the input has a label
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"  # the picker is reachable by keyboard
    for img in page.locator("img").all():
        assert img.get_attribute("alt") is not None
    shot(page, "empty-phone")


def test_progress_is_visible_while_the_api_works(page_at, live):
    page = page_at(live.url)
    held = []
    page.route("**/predict", lambda route: held.append(route))  # hold the request in flight
    page.set_input_files("#file", str(_faces()[0]))
    page.wait_for_selector("#status .busy progress")
    assert "Analysing the image" in page.inner_text("#status")
    assert page.get_attribute("#result", "aria-busy") == "true"
    assert held, "the page did not send the image"
    shot(page, "analysing")
    held[0].continue_()
    wait_history(page, 1)
    assert page.inner_text("#status") == "" and page.get_attribute("#result", "aria-busy") is None


def _template_bodies():
    from gateway import cfnyaml

    tpl = cfnyaml.load(ROOT / "template.yaml")
    res = tpl["Resources"]
    waf = res["WebAcl"]["Properties"]
    rule = next(r for r in waf["Rules"] if r["Name"] == "UploadsPerIp")
    waf_resp = rule["Action"]["Block"]["CustomResponse"]
    retry_after = next(h["Value"] for h in waf_resp["ResponseHeaders"] if h["Name"] == "Retry-After")
    waf_body = waf["CustomResponseBodies"][waf_resp["CustomResponseBodyKey"]]["Content"]
    api = next(r["Properties"] for r in res.values() if r["Type"] == "AWS::Serverless::Api")
    quota = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]["QUOTA_EXCEEDED"]
    quota_body = quota["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Limit Exceeded"')
    return waf_body, retry_after, quota_body


def test_waf_429_retry_after_and_quota_429(page_at, live):
    """The deployed stack's other 429s (template.yaml's WAF rate rule and API-key quota bodies)."""
    waf_body, retry_after, quota_body = _template_bodies()
    page = page_at(live.url)
    page.route("**/predict", lambda route: route.fulfill(
        status=429, body=waf_body, headers={"Content-Type": "application/json", "Retry-After": retry_after}))
    page.set_input_files("#file", str(_faces()[0]))
    page.wait_for_selector("#countdown:not([hidden])")
    assert f"Retrying in {int(retry_after)} s" in page.inner_text("#countdown")  # Retry-After wins over 1 s
    assert json.loads(waf_body)["error"]["message"] in page.inner_text("#alert")
    page.unroute("**/predict")
    page.click("#retry")  # "Retry now"
    wait_history(page, 1)
    page.route("**/predict", lambda route: route.fulfill(
        status=429, body=quota_body, headers={"Content-Type": "application/json"}))
    page.set_input_files("#file", str(_faces()[1]))
    page.wait_for_selector("#alert:not([hidden])")
    assert "Daily quota used up" in page.inner_text("#alert-title")
    assert page.locator("#countdown").is_hidden() and page.locator("#retry").is_hidden()


def test_published_page_calls_the_api_cross_origin(page_at, live, tmp_path):
    """The page as `make publish` leaves it in the bucket (moto), served from its own origin, calling
    the API on another origin through config.js's apiBase: CSP widening, CORS preflight, stage URL."""
    import http.server

    import boto3
    from moto import mock_aws

    sys.path.insert(0, str(ROOT / "scripts"))
    import publish as pub

    api_url = f"{live.url}{live.settings.stage}/"  # like ApiUrl: https://<id>.execute-api.../<stage>/
    site = tmp_path / "site"
    site.mkdir()
    env = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                           "AWS_ENDPOINT_URL", "AWS_PROFILE")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            cfn = boto3.client("cloudformation", region_name="us-east-1")
            cfn.create_stack(StackName="page", TemplateBody=json.dumps({
                "Resources": {"FrontendBucket": {"Type": "AWS::S3::Bucket"}},
                "Outputs": {"ApiUrl": {"Value": api_url}, "FrontendBucketName": {"Value": {"Ref": "FrontendBucket"}}}}))
            result = pub.publish(cfn=cfn, s3=s3, cloudfront=None, stack="page", log=lambda *_: None)
            types = {}
            for key in result["uploaded"]:
                obj = s3.get_object(Bucket=result["bucket"], Key=key)
                (site / key).write_bytes(obj["Body"].read())
                types[key] = obj["ContentType"]
    finally:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    class Bucket(http.server.SimpleHTTPRequestHandler):  # stands in for CloudFront + S3
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(site), **kw)

        def guess_type(self, path):
            return types.get(os.path.basename(path) or "index.html", "application/octet-stream")

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bucket)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        page_url = "http://127.0.0.1:%d/" % httpd.server_address[1]
        assert page_url != live.url
        page = page_at(page_url)
        assert page.evaluate("window.detectorPage.predictUrl") == api_url + "predict"
        page.set_input_files("#file", str(_faces()[0]))
        wait_history(page, 1)
        assert page.inner_text("[data-testid=verdict] .badge") in ("REAL", "UNCERTAIN", "FAKE")
        assert api_url + "predict" in page.requests_seen  # the stage URL, cross-origin
        assert not page.errors, page.errors
        shot(page, "published-cross-origin")
    finally:
        httpd.shutdown()
        httpd.server_close()
