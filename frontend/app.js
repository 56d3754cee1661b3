/* Deepfake image detector page: no framework, no build step, no third-party requests.
 *
 * Flow: pick/drop/paste an image -> check type and size against the API's limits -> preview ->
 * POST {"image": "data:...;base64,..."} to <apiBase>/predict -> result card, metadata, history.
 * 429 (the API gateway's throttle) is retried with exponential backoff and a visible countdown.
 */
(function () {
  "use strict";

  var DEFAULTS = {
    apiBase: "",                         // "" = this page's origin (local gateway)
    maxImageBytes: 4500000,              // the API's default decoded-size limit (MaxImageBytes)
    requestTimeoutMs: 60000,
    maxRetries: 5,                       // retries after a 429
    backoffBaseMs: 1000,                 // 1 s, 2 s, 4 s, 8 s, 16 s
    backoffMaxMs: 30000,
  };
  var CFG = Object.assign({}, DEFAULTS, window.DETECTOR_CONFIG || {});
  var API_BASE = String(CFG.apiBase || "").replace(/\/+$/, "");
  var PREDICT_URL = API_BASE + "/predict";

  var TYPES = {
    "image/jpeg": "JPEG", "image/pjpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP",
    "image/gif": "GIF", "image/bmp": "BMP", "image/x-ms-bmp": "BMP", "image/x-bmp": "BMP",
  };
  var EXTENSIONS = {
    jpg: "image/jpeg", jpeg: "image/jpeg", jpe: "image/jpeg", jfif: "image/jpeg", png: "image/png",
    webp: "image/webp", gif: "image/gif", bmp: "image/bmp", dib: "image/bmp",
  };

  var $ = function (id) { return document.getElementById(id); };
  var els = {
    drop: $("drop"), file: $("file"), limit: $("limit-text"), preview: $("preview"), img: $("preview-img"),
    faceLayer: $("face-layer"), info: $("file-info"), status: $("status"), alert: $("alert"),
    alertTitle: $("alert-title"), alertText: $("alert-text"), countdown: $("countdown"), retry: $("retry"),
    cancel: $("cancel"), result: $("result"), meta: $("meta"), chart: $("chart"), history: $("history"),
    historyEmpty: $("history-empty"), facePanel: $("face-panel"), facePanelTitle: $("face-panel-h"),
    faceList: $("face-list"), faceDetail: $("face-detail"),
  };

  var state = {
    job: null,          // the image being analysed
    controller: null,   // AbortController of the request in flight
    timer: null,        // countdown interval
    retryAction: null,  // what the Retry button does
    history: [],        // {id, name, url, thumb, result, rttMs, at}
    selected: null,
    seq: 0,
    face: null,         // API index of the face shown in the face panel (null: the one that decides)
    heatmap: false,     // show the explained face's occlusion map over the enlarged face
  };

  // ------------------------------------------------------------------ small helpers
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") el.textContent = v;
        else if (k === "class") el.className = v;
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  function svg(tag, attrs) {
    var el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") el.textContent = attrs[k]; else el.setAttribute(k, attrs[k]);
    });
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  function bytes(n) {  // SI units, as the API states its limit (4.5 MB = 4,500,000 bytes)
    if (typeof n !== "number" || !isFinite(n)) return String(n);
    if (n < 1000) return n + " B";
    if (n < 1e6) return (n / 1e3).toFixed(1).replace(/\.0$/, "") + " KB";
    return (n / 1e6).toFixed(2).replace(/\.?0+$/, "") + " MB";
  }
  function pct(p, digits) { return (100 * p).toFixed(digits === undefined ? 1 : digits) + "%"; }
  function ms(v) { return typeof v === "number" ? (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms" : "–"; }
  function isObj(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function humanKey(k) {
    var s = String(k).replace(/_/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2");
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  // ------------------------------------------------------------------ messages
  function setStatus(content) {
    clear(els.status);
    append(els.status, content);
  }
  function busy(text) {
    setStatus(h("div", { class: "busy" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      h("span", { text: text }),
      h("progress", { "aria-label": text })));
    els.result.setAttribute("aria-busy", "true");
  }
  function idle() {
    setStatus(null);
    els.result.removeAttribute("aria-busy");
  }
  function hideAlert() {
    stopCountdown();
    els.alert.hidden = true;
    els.alert.className = "alert";
    els.retry.hidden = true;
    els.cancel.hidden = true;
    els.countdown.hidden = true;
    state.retryAction = null;
  }
  function showAlert(title, text, opts) {
    opts = opts || {};
    stopCountdown();
    els.alert.className = "alert" + (opts.warn ? " warn" : "");
    els.alertTitle.textContent = title;
    els.alertText.textContent = text || "";
    els.countdown.hidden = true;
    state.retryAction = opts.retry || null;
    els.retry.hidden = !opts.retry;
    els.retry.textContent = opts.retryLabel || "Retry";
    els.cancel.hidden = !opts.cancel;
    els.alert.hidden = false;
  }
  function stopCountdown() {
    if (state.timer) { clearInterval(state.timer); state.timer = null; }
  }

  // ------------------------------------------------------------------ input checks (same limits as the API)
  function mimeOf(file) {
    var t = (file.type || "").toLowerCase();
    if (t) return t;
    var m = /\.([a-z0-9]+)$/i.exec(file.name || "");
    return m ? (EXTENSIONS[m[1].toLowerCase()] || "") : "";
  }
  function checkFile(file) {
    var type = mimeOf(file);
    if (!TYPES[type]) {
      return {
        title: "Not a supported image type",
        text: "\u201c" + (file.name || "The file") + "\u201d is " + (type ? type : "of an unknown type") +
          ". Choose a JPEG, PNG, WebP, GIF or BMP image.",
      };
    }
    if (file.size === 0) return { title: "Empty file", text: "\u201c" + file.name + "\u201d has no content." };
    if (file.size > CFG.maxImageBytes) {
      // exact byte counts when the rounded sizes would read the same ("4.5 MB; the limit is 4.5 MB")
      var exact = bytes(file.size) === bytes(CFG.maxImageBytes);
      return {
        title: "Image too large",
        text: "\u201c" + file.name + "\u201d is " + (exact ? file.size.toLocaleString("en") + " bytes" : bytes(file.size)) +
          "; the limit is " + (exact ? CFG.maxImageBytes.toLocaleString("en") + " bytes (" + bytes(CFG.maxImageBytes) + ")" : bytes(CFG.maxImageBytes)) +
          ". Resize or re-save it smaller and try again.",
      };
    }
    return null;
  }

  // ------------------------------------------------------------------ choosing an image
  function takeFile(file, source) {
    if (!file) return;
    cancelPending();
    hideAlert();
    var problem = checkFile(file);
    if (problem) {
      // Nothing of an earlier image stays beside the message about this one: no preview, no
      // result, no faces, no metadata (the history keeps it; a click there shows it again).
      idle();
      hidePreview();
      resetResult("No result: \u201c" + (file.name || "the file") + "\u201d was not sent. See the message under the image picker.");
      showAlert(problem.title, problem.text);
      return;
    }
    var name = file.name && file.name !== "image.png" ? file.name : (source === "clipboard" ? "pasted image" : file.name || "image");
    var url = URL.createObjectURL(file);
    var caption = name + " \u00b7 " + (TYPES[mimeOf(file)] || mimeOf(file)) + " \u00b7 " + bytes(file.size);
    showPreview(url, caption);
    resetResult("Waiting for the analysis of \u201c" + name + "\u201d\u2026");
    var job = { id: ++state.seq, file: file, name: name, url: url, caption: caption, dataUrl: null, attempt: 0 };
    state.job = job;
    busy("Reading the image\u2026");
    readAsDataURL(file).then(function (dataUrl) {
      if (state.job !== job) return;
      job.dataUrl = dataUrl;
      job.thumb = makeThumb(url);
      analyse(job);
    }, function () {
      if (state.job !== job) return;
      idle();
      showAlert("Could not read the file", "The browser could not read \u201c" + name + "\u201d. Try choosing it again.");
    });
  }

  function readAsDataURL(file) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
      r.readAsDataURL(file);
    });
  }

  function showPreview(url, caption) {
    els.preview.hidden = false;
    clear(els.faceLayer);
    var stage = els.img.parentNode;
    stage.classList.remove("no-preview");
    els.img.onload = placeTags;  // face boxes are in % of the image; their tags need its size
    els.img.onerror = function () { stage.classList.add("no-preview"); };
    els.img.src = url;
    els.img.alt = "Preview of " + caption.split(" \u00b7 ")[0];
    els.info.textContent = caption;
  }

  function hidePreview() {
    els.preview.hidden = true;
    clear(els.faceLayer);
    els.img.onload = null;
    els.img.onerror = null;
    els.img.removeAttribute("src");
    els.img.alt = "";
    els.info.textContent = "";
  }

  function makeThumb(url) {
    return new Promise(function (resolve) {
      var im = new Image();
      im.onload = function () {
        try {
          var side = 112, c = document.createElement("canvas");
          var s = Math.min(im.naturalWidth, im.naturalHeight);
          c.width = c.height = side;
          c.getContext("2d").drawImage(im, (im.naturalWidth - s) / 2, (im.naturalHeight - s) / 2, s, s, 0, 0, side, side);
          resolve(c.toDataURL("image/jpeg", 0.8));
        } catch (e) { resolve(null); }
      };
      im.onerror = function () { resolve(null); };
      im.src = url;
    });
  }

  // ------------------------------------------------------------------ talking to the API
  function cancelPending() {
    stopCountdown();
    if (state.controller) { state.controller.abort(); state.controller = null; }
    state.job = null;
  }

  // POST a JSON body to /predict; resolves {res, data (parsed JSON or null), text}.
  function postPredict(body, signal) {
    return fetch(PREDICT_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
      signal: signal,
      credentials: "omit",
      cache: "no-store",
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { res: res, data: data, text: text };
      });
    });
  }

  function analyse(job) {
    hideAlert();
    busy(job.attempt ? "Retrying (" + job.attempt + " of " + CFG.maxRetries + ")\u2026 analysing the image" : "Analysing the image\u2026");
    var controller = new AbortController();
    state.controller = controller;
    var timedOut = false;
    var timeout = setTimeout(function () { timedOut = true; controller.abort(); }, CFG.requestTimeoutMs);
    var t0 = performance.now();
    // no explain here: the occlusion map costs ~64 extra inferences, asked for only when the
    // heatmap toggle is first pressed (explainEntry)
    postPredict({ image: job.dataUrl }, controller.signal).then(function (r) {
      clearTimeout(timeout);
      if (state.job !== job) return;
      state.controller = null;
      var rtt = performance.now() - t0;
      if (r.res.ok && r.data && typeof r.data.fake_probability === "number") return done(job, r.data, rtt);
      if (r.res.status === 429) return throttled(job, r.data, r.res.headers.get("Retry-After"));
      apiError(job, r.res.status, r.data, r.text);
    }).catch(function (err) {
      clearTimeout(timeout);
      if (state.job !== job) return;
      state.controller = null;
      idle();
      if (err && err.name === "AbortError" && !timedOut) return;
      resetResult("No result yet for \u201c" + job.name + "\u201d: see the message under the image.");
      showAlert(timedOut ? "The API did not answer" : "Could not reach the API",
        timedOut ? "No answer within " + Math.round(CFG.requestTimeoutMs / 1000) + " s. Check your connection and try again."
                 : "A network error stopped the request (" + (PREDICT_URL.indexOf("http") === 0 ? new URL(PREDICT_URL).host : location.host) +
                   "). Check your connection and try again.",
        { retry: function () { job.attempt = 0; analyse(job); } });
    });
  }

  function throttled(job, data, retryAfter) {
    idle();
    var err = (data && data.error) || {};
    var said = err.message || (data && data.message) || "";
    // API Gateway's own throttle says just "Too Many Requests"; a WAF rate rule or a quota says more.
    var detail = said && !/^too many requests\.?$/i.test(said) ? " The service says: \u201c" + said + "\u201d" : "";
    if (err.code === "quota_exceeded") {
      showAlert("Daily quota used up", "This API key has used its requests for today; retrying now cannot help." + detail +
        " (HTTP 429, quota_exceeded)", { warn: true });
      resetResult("No result for \u201c" + job.name + "\u201d: see the message under the image.");
      return;
    }
    if (job.attempt >= CFG.maxRetries) {
      resetResult("No result yet for \u201c" + job.name + "\u201d: see the message under the image.");
      showAlert("Too many requests", "The service is still busy after " + CFG.maxRetries +
        " retries. Wait a moment, then try again.", { warn: true, retry: function () { job.attempt = 0; analyse(job); } });
      return;
    }
    var delay = Math.min(CFG.backoffMaxMs, CFG.backoffBaseMs * Math.pow(2, job.attempt));
    var ra = Number(retryAfter);  // seconds, when the answer says (e.g. the WAF's rate rule)
    if (retryAfter && isFinite(ra) && ra > 0) delay = Math.max(delay, Math.min(ra, 300) * 1000);
    job.attempt += 1;
    showAlert("Too many requests", "The service is receiving more requests than it accepts right now. " +
      "Your image will be sent again automatically." + detail, {
        warn: true, cancel: true,
        retry: function () { stopCountdown(); analyse(job); }, retryLabel: "Retry now",
      });
    var until = Date.now() + delay;
    var tick = function () {
      var left = Math.max(0, until - Date.now());
      els.countdown.textContent = "Retrying in " + Math.ceil(left / 1000) + " s (retry " + job.attempt + " of " + CFG.maxRetries + ")";
      if (left <= 0) {
        stopCountdown();
        if (state.job === job) analyse(job);
      }
    };
    els.countdown.hidden = false;
    tick();
    state.timer = setInterval(tick, 200);
  }

  var ERROR_TITLES = {
    400: "The request was not accepted",
    403: "The API refused the request",
    404: "The API address is wrong",
    405: "The API refused the request",
    413: "Image too large",
    415: "Not an image the service can read",
    422: "The image could not be analysed",
    503: "The model is not available",
  };

  function apiError(job, status, data, text) {
    idle();
    resetResult("No result for \u201c" + job.name + "\u201d: see the message under the image.");
    var message = (data && data.error && data.error.message) || (data && data.message) || "";
    var code = data && data.error && data.error.code;
    var title = ERROR_TITLES[status] || (status >= 500 ? "The service had a problem" : "The request failed");
    var body = message ? message.replace(/\s*$/, "") : (status >= 500 ? "Please try again in a moment." : "");
    if (body && !/[.!?]$/.test(body)) body += ".";
    body += " (HTTP " + status + (code ? ", " + code : "") + ")";
    var opts = {};
    if (status >= 500 || status === 408) opts.retry = function () { job.attempt = 0; analyse(job); };
    showAlert(title, body.trim(), opts);
  }

  // ------------------------------------------------------------------ results
  function done(job, data, rtt) {
    idle();
    hideAlert();
    var entry = { id: job.id, name: job.name, file: job.file, url: job.url, caption: job.caption, thumb: null, result: data, rttMs: rtt, at: new Date() };
    if (els.img.getAttribute("src") !== job.url) showPreview(job.url, job.caption);  // a history row was shown meanwhile
    state.history.push(entry);
    state.selected = entry;
    state.face = null;  // the face that decides the verdict, until another is chosen
    renderResult(entry);
    renderMeta(data);
    renderHistory();
    state.job = null;
    if (job.thumb) job.thumb.then(function (t) { entry.thumb = t; renderHistory(); });
  }

  // No result on screen: the Result panel says `text`, the faces (boxes and panel) and the metadata
  // of an earlier image are gone, and no history row is marked as shown.
  function resetResult(text) {
    state.selected = null;
    state.face = null;
    clear(els.result);
    els.result.appendChild(h("p", { class: "empty", "data-testid": "no-result", text: text }));
    clear(els.meta);
    els.meta.appendChild(h("p", { class: "empty", text: "Metadata appears with the result." }));
    clear(els.faceLayer);
    renderFacePanel(null);
    if (state.history.length) renderHistory();
  }

  // The three answers a person reads (the API's `verdict`; answers without one, from before the
  // verdict policy, fall back to `label`). Each says what it means; `verdict_reason` says why.
  var VERDICT_WORDS = {
    real: { badge: "REAL", head: "No sign of manipulation found",
            means: "The model found no sign of generation or manipulation in the face it judged." },
    uncertain: { badge: "UNCERTAIN", head: "The model cannot tell",
                 means: "Uncertain means the model cannot tell real from fake here: read it as neither, not as a weak yes or no." },
    fake: { badge: "FAKE", head: "Likely generated or manipulated",
            means: "The model found signs of generation or manipulation in the face it judged." },
  };
  function thresholdOf(d) { return typeof d.threshold === "number" ? d.threshold : 0.5; }
  function verdictOf(d, thr) {
    var v = String(d.verdict || "").toLowerCase();
    if (VERDICT_WORDS[v]) return v;
    var label = String(d.label || (d.fake_probability >= thr ? "FAKE" : "REAL")).toUpperCase();
    return label === "FAKE" ? "fake" : "real";
  }
  // [low, high] of P(fake) where the answer is uncertain, from the answer itself (the model card's
  // verdict_policy); a card without one has none: [threshold, threshold].
  function bandOf(d, thr) {
    var b = d.uncertain_band;
    if (Array.isArray(b) && b.length === 2 && typeof b[0] === "number" && typeof b[1] === "number" && b[0] <= b[1]) {
      return [Math.max(0, b[0]), Math.min(1, b[1])];
    }
    return [thr, thr];
  }
  function bandText(band) {
    return band[1] > band[0] ? pct(band[0], 0) + "\u2013" + pct(band[1], 0) : "none";
  }

  // Confidence, in words: how far P(fake) is from the threshold, as a share of the room on that
  // side of it (threshold..0 for REAL, threshold..1 for FAKE): under 1/3 low, under 2/3 medium,
  // else high. An uncertain answer is always low. It is a distance, not a chance of being right.
  function confidenceOf(p, thr, verdict) {
    if (verdict === "uncertain") return { level: "low", text: "Low: the answer is uncertain" };
    var room = p >= thr ? 1 - thr : thr;
    var r = room > 0 ? Math.abs(p - thr) / room : 1;
    var level = r < 1 / 3 ? "low" : r < 2 / 3 ? "medium" : "high";
    var gap = 100 * Math.abs(p - thr);
    return {
      level: level,
      text: level.charAt(0).toUpperCase() + level.slice(1) + ": P(fake) is " + gap.toFixed(gap < 1 ? 1 : 0) +
        " points " + (p >= thr ? "above" : "below") + " the threshold",
    };
  }

  // The fake-probability bar: green / amber (uncertain band) / red zones, the probability in the
  // verdict's colour, the threshold marked. `prefix` keeps test ids and label ids apart ("" for the
  // Result card, "face-" for the face panel).
  function probabilityBar(p, thr, band, verdict, prefix) {
    var labelId = prefix + "bar-label";
    var bar = h("div", {
      class: "bar", role: "meter", "aria-labelledby": labelId, "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": (100 * p).toFixed(1),
      "aria-valuetext": pct(p) + " fake; threshold " + pct(thr, 0) + (band[1] > band[0] ? "; uncertain from " + bandText(band) : ""),
      "data-testid": prefix + "probability-bar",
    });
    var zone = function (cls, a, b, testid) {
      var z = h("div", { class: "zone " + cls, "data-testid": testid || null });
      z.style.left = (100 * a) + "%";
      z.style.width = (100 * Math.max(0, b - a)) + "%";
      return z;
    };
    bar.appendChild(zone("real", 0, band[0]));
    var bandZone = zone("uncertain", band[0], band[1], prefix + "uncertain-band");
    if (band[1] <= band[0]) bandZone.hidden = true;
    bar.appendChild(bandZone);
    bar.appendChild(zone("fake", band[1], 1));
    var fill = h("div", { class: "bar-fill " + verdict });
    fill.style.width = (100 * Math.max(0, Math.min(1, p))) + "%";
    bar.appendChild(fill);
    var mark = h("div", { class: "bar-threshold", title: "Threshold " + thr.toFixed(2), "data-testid": prefix + "threshold-marker" });
    mark.style.left = "calc(" + (100 * thr) + "% - 1.5px)";
    bar.appendChild(mark);

    var scale = h("div", { class: "bar-scale", "aria-hidden": "true" });
    var a = h("span", { class: "start", text: "0%" });
    // Short label under the marker; left out where it would run into "0%" or "100%".
    var b = h("span", { class: "thr", text: "\u25b2 " + pct(thr, 0) });
    if (thr < 0.1 || thr > 0.9) b.hidden = true;
    var c = h("span", { class: "end", text: "100%" });
    a.style.left = "0"; b.style.left = (100 * thr) + "%"; c.style.left = "100%";
    scale.appendChild(a); scale.appendChild(b); scale.appendChild(c);
    return [
      h("div", { class: "bar-label" },
        h("span", null, h("span", { id: labelId, text: "Fake probability" }),
          prefix ? null : h("span", { class: "thr-note", text: " (threshold " + pct(thr, 0) +
            (band[1] > band[0] ? ", uncertain " + bandText(band) : "") + ")" })),
        h("strong", { text: pct(p) })),
      bar, scale,
    ];
  }

  function renderResult(entry) {
    var d = entry.result;
    var p = d.fake_probability;
    var thr = thresholdOf(d);
    var band = bandOf(d, thr);
    var verdict = verdictOf(d, thr);
    var words = VERDICT_WORDS[verdict];
    var conf = confidenceOf(p, thr, verdict);
    var model = d.model || {};
    var img = d.image || {};
    var t = d.timings_ms || {};
    clear(els.result);
    append(els.result, [
      h("div", { class: "verdict " + verdict, "data-testid": "verdict", "data-verdict": verdict },
        h("span", { class: "badge", text: words.badge }),
        h("p", null,
          h("strong", { text: words.head }),
          h("br"),
          "for \u201c" + entry.name + "\u201d"),
        h("p", { class: "reason", "data-testid": "verdict-reason" },
          h("span", { class: "means", text: words.means + " " }),
          h("span", { class: "why", text: d.verdict_reason ? String(d.verdict_reason) : "" }))),
      probabilityBar(p, thr, band, verdict, ""),
      h("p", { class: "hint band-note", "data-testid": "band-note", text: band[1] > band[0]
        ? "Amber: the uncertain band (" + bandText(band) + "), where this model's answers are often wrong."
        : "This model has no uncertain band: only a face too small to judge, or no face, is uncertain." }),
      h("dl", { class: "facts" },
        h("dt", { text: "Confidence" }),
        h("dd", { "data-testid": "confidence", "data-level": conf.level, text: conf.text }),
        h("dt", { text: "Model" }), h("dd", null,
          (model.name || "unknown") + (model.version ? " v" + model.version : ""),
          model.sha256 ? h("span", { class: "mono", title: "sha256 " + model.sha256, text: " \u00b7 " + String(model.sha256).slice(0, 12) }) : null),
        img.format || img.width ? [h("dt", { text: "Image" }),
          h("dd", { text: [img.format, img.width && img.height ? img.width + "\u00d7" + img.height + " px" : null].filter(Boolean).join(" \u00b7 ") })] : null,
        h("dt", { text: "Timings" }), h("dd", { "data-testid": "timings" },
          "decode " + ms(t.decode) + " \u00b7 inference " + ms(t.inference) + " \u00b7 total " + ms(t.total) +
          " \u00b7 round trip " + ms(entry.rttMs)),
        d.request_id ? [h("dt", { text: "Request" }), h("dd", { class: "mono", text: d.request_id })] : null),
      facesSummary(entry),
    ]);
    renderFaces(entry);
  }

  // ------------------------------------------------------------------ faces
  // The API judges faces, not frames: `faces` [{box [x0,y0,x1,y1] in image pixels, score,
  // fake_probability, label, verdict, verdict_reason, crop (the judged square)}] in the detector's
  // order; the image's verdict is the face in `verdict_source.face`; `explain` {face, grid,
  // values[row][col], max_abs} is an occlusion map of that face's judged square (positive = that
  // region pushed P(fake) up). The page numbers faces in reading order (readingOrder).

  // API indices in reading order: faces whose vertical centres are within half a face height of
  // a row's mean centre share that row; rows top to bottom, faces in a row left to right.
  function readingOrder(faces) {
    var items = [];
    faces.forEach(function (f, i) {
      if (!f || !Array.isArray(f.box)) return;
      items.push({ i: i, x: f.box[0], cy: (f.box[1] + f.box[3]) / 2, h: f.box[3] - f.box[1] });
    });
    items.sort(function (a, b) { return a.cy - b.cy || a.x - b.x; });
    var rows = [];
    items.forEach(function (it) {
      var row = rows[rows.length - 1];
      if (row) {
        var cy = 0, hh = 0;
        row.forEach(function (r) { cy += r.cy; hh += r.h; });
        cy /= row.length; hh /= row.length;
        if (Math.abs(it.cy - cy) < 0.5 * Math.max(hh, it.h)) { row.push(it); return; }
      }
      rows.push([it]);
    });
    var out = [];
    rows.forEach(function (row) {
      row.sort(function (a, b) { return a.x - b.x; });
      row.forEach(function (it) { out.push(it.i); });
    });
    return out;
  }

  // What the page shows of each face, in reading order: {n (1-based number), index (in the API's
  // `faces`; null for the whole image), box, crop, p, verdict, reason, judged}. With no face (or
  // no face stage) the whole image is the one "face".
  function faceViews(entry) {
    var d = entry.result, thr = thresholdOf(d);
    var src = isObj(d.verdict_source) ? d.verdict_source : {};
    var faces = Array.isArray(d.faces) ? d.faces : [];
    var img = d.image || {};
    var W = img.width || els.img.naturalWidth || 1, H = img.height || els.img.naturalHeight || 1;
    var order = readingOrder(faces);
    if (!order.length) {
      return [{ n: 0, index: null, whole: true, box: [0, 0, W, H], crop: [0, 0, W, H], p: d.fake_probability,
                verdict: verdictOf(d, thr), reason: d.verdict_reason || "", judged: true, W: W, H: H }];
    }
    return order.map(function (i, k) {
      var f = faces[i];
      return { n: k + 1, index: i, whole: false, box: f.box, crop: Array.isArray(f.crop) ? f.crop : f.box,
               p: f.fake_probability, verdict: verdictOf(f, thr), reason: f.verdict_reason || "",
               judged: src.face === i, W: W, H: H };
    });
  }
  function selectedView(entry, views) {
    var pick = null;
    views.forEach(function (v) { if (v.index === state.face && state.face !== null) pick = v; });
    if (!pick) views.forEach(function (v) { if (v.judged && !pick) pick = v; });
    return pick || views[0];
  }
  function faceName(v, count) {
    return v.whole ? "the whole image" : "face #" + v.n + (count > 1 ? " of " + count : "");
  }

  function facesSummary(entry) {
    var views = faceViews(entry);
    var text;
    if (views[0].whole) {
      text = "No face found: the whole image was judged. It is under the image, with its heatmap.";
    } else if (views.length === 1) {
      text = "1 face found. Its verdict, enlarged, with its heatmap: under the image.";
    } else {
      var judged = views.filter(function (v) { return v.judged; })[0];
      text = views.length + " faces found, numbered left to right, top to bottom" +
        (judged ? "; the verdict is face #" + judged.n + "'s (\u2605)" : "") +
        ". Choose a face on the image or in the list under it to see it enlarged.";
    }
    return h("div", { class: "faces-summary", "data-testid": "faces-summary" }, h("p", { text: text }));
  }

  function renderFaces(entry) {
    renderFaceLayer(entry);
    renderFacePanel(entry);
  }

  // Choosing a face updates the buttons in place (focus stays where it is) and redraws the detail.
  function selectFace(entry, index) {
    if (state.selected !== entry) return;
    state.face = index;
    var views = faceViews(entry), v = selectedView(entry, views);
    Array.prototype.forEach.call(document.querySelectorAll(".face-box, .face-row"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-face") === String(v.index) ? "true" : "false");
    });
    renderFaceDetail(entry, views, v);
  }

  // Face boxes over the preview: buttons placed in % of the image (they follow its size), each
  // with a number tag outside its box (placeTags).
  function renderFaceLayer(entry) {
    clear(els.faceLayer);
    if (!entry) return;
    var views = faceViews(entry);
    if (views[0].whole) return;
    var current = selectedView(entry, views);
    views.forEach(function (v) {
      var b = v.box, W = v.W, H = v.H;
      var star = v.judged && views.length > 1;
      var words = VERDICT_WORDS[v.verdict];
      var btn = h("button", {
        type: "button", class: "face-box " + v.verdict + (star ? " judged" : ""),
        "aria-pressed": v === current ? "true" : "false",
        "aria-label": "Face #" + v.n + ": " + words.badge + ", " + pct(v.p) + " fake" +
          (star ? ", decides the image's verdict" : "") + ". Show it enlarged.",
        "data-testid": "face-box", "data-face": v.index, "data-n": v.n, "data-verdict": v.verdict,
      }, h("span", { class: "face-tag " + v.verdict, "data-testid": "face-label", "aria-hidden": "true",
                     text: "#" + v.n + (star ? " \u2605" : "") }));
      btn.style.left = (100 * b[0] / W) + "%";
      btn.style.top = (100 * b[1] / H) + "%";
      btn.style.width = (100 * (b[2] - b[0]) / W) + "%";
      btn.style.height = (100 * (b[3] - b[1]) / H) + "%";
      btn.addEventListener("click", function () { selectFace(entry, v.index); });
      els.faceLayer.appendChild(btn);
    });
    placeTags();
  }

  // Each number tag goes where it covers no face: above its box, else below, right, left (then
  // the same flush right); the first place that stays on the image and covers no face box or
  // earlier tag wins, else the one that covers least.
  function placeTags() {
    var boxes = Array.prototype.slice.call(els.faceLayer.querySelectorAll(".face-box"));
    var SW = els.faceLayer.clientWidth, SH = els.faceLayer.clientHeight;
    if (!boxes.length || !SW || !SH) return;
    var rects = boxes.map(function (b) { return { x: b.offsetLeft, y: b.offsetTop, w: b.offsetWidth, h: b.offsetHeight }; });
    var overlap = function (a, b) {
      var w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x), hh = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      return w > 0 && hh > 0 ? w * hh : 0;
    };
    var placed = [];
    boxes.forEach(function (b, k) {
      var tag = b.querySelector(".face-tag");
      var r = rects[k], tw = tag.offsetWidth, th = tag.offsetHeight, gap = 3;
      var spots = [["above", 0, -th - gap], ["below", 0, r.h + gap], ["right", r.w + gap, 0],
                   ["left", -tw - gap, 0], ["above", r.w - tw, -th - gap], ["below", r.w - tw, r.h + gap]];
      var best = null, bestCost = Infinity;
      spots.forEach(function (s) {
        var t = { x: r.x + s[1], y: r.y + s[2], w: tw, h: th };
        var inside = overlap(t, { x: 0, y: 0, w: SW, h: SH });
        var cost = 10 * (tw * th - inside);
        rects.forEach(function (o) { cost += 4 * overlap(t, o); });
        placed.forEach(function (o) { cost += overlap(t, o); });
        if (cost < bestCost) { best = { s: s, t: t }; bestCost = cost; }
      });
      // offsets are from the button's padding box (inside its border)
      tag.style.left = (best.s[1] - b.clientLeft) + "px";
      tag.style.top = (best.s[2] - b.clientTop) + "px";
      tag.setAttribute("data-place", best.s[0]);
      placed.push(best.t);
    });
  }

  // The face panel under the preview: a row per face (reading order) and the chosen face enlarged
  // with its own verdict, probability bar and the heatmap over it.
  function renderFacePanel(entry) {
    clear(els.faceList);
    clear(els.faceDetail);
    if (!entry) { els.facePanel.hidden = true; return; }
    var views = faceViews(entry);
    var v = selectedView(entry, views);
    els.facePanel.hidden = false;
    els.facePanelTitle.textContent = v.whole ? "The whole image (no face found)" :
      views.length === 1 ? "The face" : views.length + " faces, left to right, top to bottom";
    els.faceList.hidden = v.whole || views.length < 2;
    if (!v.whole) {
      views.forEach(function (f) {
        var star = f.judged && views.length > 1;
        var words = VERDICT_WORDS[f.verdict];
        var row = h("button", {
          type: "button", class: "face-row", "aria-pressed": f === v ? "true" : "false", "data-testid": "face-row",
          "data-face": f.index, "data-n": f.n,
        },
          h("span", { class: "face-num", text: "#" + f.n }),
          h("span", { class: "pill " + f.verdict, text: words.badge }),
          h("span", { class: "face-p", text: pct(f.p) + " fake" }),
          star ? h("span", { class: "face-star", text: "\u2605 decides the verdict" }) : null);
        row.addEventListener("click", function () { selectFace(entry, f.index); });
        els.faceList.appendChild(h("li", null, row));
      });
    }
    renderFaceDetail(entry, views, v);
  }

  function renderFaceDetail(entry, views, v) {
    clear(els.faceDetail);
    var d = entry.result, thr = thresholdOf(d), band = bandOf(d, thr);
    var words = VERDICT_WORDS[v.verdict];
    var ex = isObj(d.explain) ? d.explain : null;
    var exFace = ex && ex.face !== undefined ? ex.face : null;
    var mapHere = !!ex && Array.isArray(ex.values) && ex.grid > 0 && exFace === v.index;
    var judgedView = views.filter(function (f) { return f.judged; })[0];
    var info = h("div", { class: "face-info" },
      h("h4", { "data-testid": "face-title", text: (v.whole ? "Whole image" : "Face #" + v.n) +
        (v.judged && views.length > 1 ? " \u2605 decides the verdict" : "") }),
      h("p", { class: "verdict-chip " + v.verdict, "data-testid": "face-verdict", "data-verdict": v.verdict, text: words.badge }),
      h("p", { class: "face-reason", "data-testid": "face-reason", text: v.reason || words.means }),
      probabilityBar(v.p, thr, band, v.verdict, "face-"),
      heatmapControls(entry, v, ex, mapHere, judgedView, views));
    var zoom = h("figure", { class: "face-zoom" }, faceZoom(entry, v, ex, mapHere),
      h("figcaption", { class: "hint", text: v.whole ? "The whole image, as judged." :
        "Face #" + v.n + " enlarged: box in its verdict's colour, the judged square dashed." }));
    append(els.faceDetail, [zoom, info, state.heatmap && mapHere ? heatmapLegend(v, ex, views.length) : null]);
  }

  // The chosen face enlarged: an SVG whose viewBox is a square around the face (in image pixels),
  // the preview image under it, the face box, the judged square (dashed) and the heatmap cells.
  function faceZoom(entry, v, ex, mapHere) {
    var W = v.W, H = v.H, b = v.box, c = v.crop;
    var vb;
    if (v.whole) {
      vb = [0, 0, W, H];
    } else {
      var side = 1.5 * Math.max(b[2] - b[0], b[3] - b[1], c[2] - c[0], c[3] - c[1]);
      var cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
      vb = [cx - side / 2, cy - side / 2, side, side];
    }
    var el = svg("svg", { class: "zoom", viewBox: vb.join(" "), role: "img", "data-testid": "face-zoom",
      "aria-label": (v.whole ? "The whole image" : "Face #" + v.n + " enlarged") + (mapHere && state.heatmap ? ", with its heatmap" : ""),
      preserveAspectRatio: "xMidYMid meet" });
    el.appendChild(svg("rect", { x: vb[0], y: vb[1], width: vb[2], height: vb[3], class: "zoom-bg" }));
    el.appendChild(svg("image", { href: entry.url, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "none" }));
    if (mapHere) {
      var g = svg("g", { "data-testid": "heatmap", visibility: state.heatmap ? "visible" : "hidden" });
      var cw = (c[2] - c[0]) / ex.grid, ch = (c[3] - c[1]) / ex.grid;
      var top = ex.max_abs > 0 ? ex.max_abs : 1;
      ex.values.forEach(function (row, r) {
        row.forEach(function (val, k) {
          var a = Math.min(1, Math.abs(val) / top) * 0.65;
          if (a < 0.02) return;
          g.appendChild(svg("rect", {
            x: c[0] + k * cw, y: c[1] + r * ch, width: cw, height: ch, class: "heat-cell",
            fill: val > 0 ? "rgb(220,38,38)" : "rgb(37,99,235)", "fill-opacity": a.toFixed(3),
          }));
        });
      });
      el.appendChild(g);
    }
    if (!v.whole) {
      el.appendChild(svg("rect", { x: c[0], y: c[1], width: c[2] - c[0], height: c[3] - c[1], fill: "none",
        stroke: "#fff", "stroke-dasharray": "6 4", "stroke-width": 1.5, "vector-effect": "non-scaling-stroke",
        "data-testid": "zoom-crop" }));
      el.appendChild(svg("rect", { x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1], fill: "none",
        class: "zoom-box " + v.verdict, "stroke-width": 3, "vector-effect": "non-scaling-stroke", "data-testid": "zoom-box" }));
    }
    return el;
  }

  // The heatmap exists for the face that decides the verdict (the API explains that face only):
  // a toggle there (asking the API the first time), a pointer to that face elsewhere.
  function heatmapControls(entry, v, ex, mapHere, judgedView, views) {
    var count = views.length;
    var box = h("div", { class: "heat-controls" });
    if (!v.judged) {
      if (!judgedView) return box;
      var go = h("button", { type: "button", class: "button ghost small", text: "Show face #" + judgedView.n });
      go.addEventListener("click", function () { selectFace(entry, judgedView.index); focusToggle(); });
      append(box, [h("p", { class: "hint", "data-testid": "heatmap-elsewhere",
        text: "The heatmap is computed for the face that decides the verdict (#" + judgedView.n + ") only." }), go]);
      return box;
    }
    if (!ex && !entry.file) return box;  // a result without the file (cannot ask again)
    var shown = state.heatmap && mapHere;
    var btn = h("button", { type: "button", class: "button ghost small", "aria-pressed": shown ? "true" : "false",
      "data-testid": "heatmap-toggle", text: shown ? "Hide heatmap" : "Show heatmap" });
    btn.addEventListener("click", function () {
      if (mapHere) {
        state.heatmap = btn.getAttribute("aria-pressed") !== "true";
        renderFaceDetail(entry, views, v);
        focusToggle();
        return;
      }
      btn.disabled = true;
      btn.textContent = "Computing heatmap\u2026";
      explainEntry(entry).then(function () {
        state.heatmap = true;
        if (state.selected === entry && state.face === v.index) { renderFaceDetail(entry, views, v); focusToggle(); }
        else if (state.selected === entry) renderFacePanel(entry);
      }, function (why) {
        btn.disabled = false;
        btn.textContent = "Show heatmap";
        showAlert("No heatmap", why, { warn: true });
      });
    });
    box.appendChild(btn);
    return box;
  }

  // What the heatmap's colours mean, under the enlarged face (a row of its own, full width).
  function heatmapLegend(v, ex, count) {
    var top = Math.abs(ex.max_abs || 0) * 100;
    return h("div", { class: "legend", "data-testid": "heatmap-legend" },
      h("div", { class: "legend-scale", "aria-hidden": "true" }),
      h("div", { class: "legend-ends" },
        h("span", { text: "\u25c0 toward REAL" }), h("span", { text: "no effect" }), h("span", { text: "toward FAKE \u25b6" })),
      h("p", { class: "hint", text: "Red: covering that part of " +
        (v.whole ? "the image" : faceName(v, count) + "'s judged square (dashed)") + " lowers " +
        "P(fake), so it pushed toward FAKE; blue: it pushed toward REAL. " + ex.grid + "\u00d7" + ex.grid +
        " cells; the strongest moves P(fake) by " + top.toFixed(top < 1 ? 2 : 1) + " points." }));
  }

  function focusToggle() {
    var t = els.faceDetail.querySelector("[data-testid=heatmap-toggle]");
    if (t) t.focus();
  }

  // The occlusion map of an analysed image: the same upload again with explain: true. Only the
  // `explain` block is taken from that answer; the verdict shown stays the first answer's.
  function explainEntry(entry) {
    return readAsDataURL(entry.file).then(function (dataUrl) {
      return postPredict({ image: dataUrl, explain: true });
    }).then(function (r) {
      if (r.res.ok && r.data && isObj(r.data.explain)) { entry.result.explain = r.data.explain; return; }
      var err = (r.data && r.data.error) || {};
      throw (r.res.status === 429 ? "Too many requests: try the heatmap again in a moment." :
             (err.message || "The API answered HTTP " + r.res.status + " without a heatmap."));
    }, function () {
      throw "Could not reach the API for the heatmap.";
    });
  }

  // Metadata: the API's `metadata` block (format, bytes, width/height, megapixels, mode, frames, dpi,
  // exif{make, model, software, datetime*, ...}, text{...}, provenance{c2pa, jumbf, xmp,
  // digital_source_type, creator_tool}, signals[{code, detail}], note).
  var GENERATOR_CODES = { generator_text: 1, generator_software: 1, declared_ai_source: 1 };
  var PROVENANCE_CODES = { c2pa_manifest: 1, declared_source: 1, camera_exif: 1 };
  var EXIF_LABELS = {
    make: "Make", model: "Model", software: "Software", datetime: "Date", datetime_original: "Taken",
    datetime_digitized: "Digitised", description: "Description", artist: "Artist", orientation: "Orientation",
    lens_model: "Lens", user_comment: "User comment",
  };

  function none(text) { return h("span", { class: "empty", text: text || "none" }); }
  function tags(list, cls) {
    if (!list.length) return none();
    return h("span", null, list.map(function (t) { return h("span", { class: "tag " + (cls || ""), text: t }); }));
  }
  function kvList(obj, labels) {
    var keys = Object.keys(obj || {});
    if (!keys.length) return none();
    return h("ul", null, keys.map(function (k) {
      var v = obj[k];
      return h("li", null, h("span", { class: "k", text: ((labels && labels[k]) || humanKey(k)) + ": " }),
        isObj(v) || Array.isArray(v) ? JSON.stringify(v) : String(v));
    }));
  }

  function renderMeta(data) {
    var m = isObj(data.metadata) ? data.metadata : {};
    var img = data.image || {};
    var exif = isObj(m.exif) ? m.exif : {};
    var prov = isObj(m.provenance) ? m.provenance : {};
    var text = isObj(m.text) ? m.text : {};
    var signals = Array.isArray(m.signals) ? m.signals : [];
    var w = m.width || img.width, hh = m.height || img.height;
    var rows = [];
    var row = function (label, key, value) { rows.push([label, key, value]); };

    row("Format", "format", [m.format || img.format, m.mime_type].filter(Boolean).join(" \u00b7 ") || none("unknown"));
    var size = typeof m.bytes === "number" ? m.bytes : img.bytes;
    row("File size", "bytes", typeof size === "number" ? bytes(size) + " (" + size.toLocaleString("en") + " bytes)" : none("unknown"));
    row("Dimensions", "dimensions", w && hh ? w + " \u00d7 " + hh + " px" : none("unknown"));
    var mp = typeof m.megapixels === "number" ? m.megapixels : (w && hh ? (w * hh) / 1e6 : null);
    row("Megapixels", "megapixels", mp === null ? none("unknown") : mp.toFixed(mp < 1 ? 3 : 2) + " MP");
    if (m.mode || img.mode) row("Colour mode", "mode", m.mode || img.mode);
    if (m.frames && m.frames > 1) row("Frames", "frames", m.frames + " (the first is analysed)");
    if (Array.isArray(m.dpi)) row("Resolution", "dpi", m.dpi[0] + " \u00d7 " + m.dpi[1] + " dpi");
    var camera = [exif.make, exif.model].filter(Boolean).join(" ");
    row("Camera", "camera", camera ? camera + (exif.lens_model ? " \u00b7 " + exif.lens_model : "") : none("none recorded"));
    var software = exif.software || prov.creator_tool || text.software || text.Software;
    row("Software", "software", software ? String(software) : none("none recorded"));
    if (exif.datetime_original || exif.datetime) row("Taken", "taken", String(exif.datetime_original || exif.datetime));

    var gen = signals.filter(function (x) { return GENERATOR_CODES[x.code]; }).map(function (x) { return x.detail || x.code; });
    row("Generator hints", "generator_hints", tags(gen, "signal"));
    var provItems = [];
    provItems.push("C2PA manifest: " + (prov.c2pa ? "present (not verified)" : prov.jumbf ? "JUMBF box, not C2PA" : "none"));
    provItems.push("XMP: " + (prov.xmp ? "present" : "none"));
    if (prov.digital_source_type) provItems.push("DigitalSourceType: " + prov.digital_source_type);
    if (prov.creator_tool) provItems.push("CreatorTool: " + prov.creator_tool);
    signals.forEach(function (x) {
      if (PROVENANCE_CODES[x.code] && x.code !== "c2pa_manifest") provItems.push((x.code === "camera_exif" ? "Camera EXIF: " : "") + (x.detail || x.code));
    });
    row("Provenance", "provenance", tags(provItems));
    var others = signals.filter(function (x) { return !GENERATOR_CODES[x.code] && !PROVENANCE_CODES[x.code]; });
    if (others.length) row("Other signals", "signals", tags(others.map(function (x) { return x.detail || x.code; })));

    clear(els.meta);
    var dl = h("dl", { class: "facts", "data-testid": "metadata" });
    rows.forEach(function (r) {
      dl.appendChild(h("dt", { text: r[0] }));
      dl.appendChild(h("dd", { "data-key": r[1] }, r[2]));
    });
    els.meta.appendChild(dl);
    if (Object.keys(exif).length || Object.keys(text).length) {
      var det = h("details", { class: "more" }, h("summary", { text: "All EXIF and text fields" }));
      if (Object.keys(exif).length) det.appendChild(h("div", null, h("h3", { text: "EXIF" }), kvList(exif, EXIF_LABELS)));
      if (Object.keys(text).length) det.appendChild(h("div", null, h("h3", { text: "Text chunks" }), kvList(text)));
      els.meta.appendChild(det);
    }
    if (m.note) els.meta.appendChild(h("p", { class: "hint", text: "Note: " + m.note + "." }));
  }

  // ------------------------------------------------------------------ history + chart
  function renderHistory() {
    els.historyEmpty.hidden = state.history.length > 0;
    clear(els.history);
    state.history.slice().reverse().forEach(function (e, i) {
      var d = e.result;
      var verdict = verdictOf(d, thresholdOf(d));
      var word = VERDICT_WORDS[verdict].badge;
      var n = state.history.length - i;
      var btn = h("button", {
        type: "button", "aria-current": state.selected === e ? "true" : "false",
        "aria-label": "#" + n + " " + e.name + ": " + word + ", fake probability " + pct(d.fake_probability) + ". Show this result.",
      },
        e.thumb ? h("img", { src: e.thumb, alt: "" }) : h("span", { class: "thumb-missing" }),
        h("span", null, h("span", { class: "name", text: "#" + n + " " + e.name }), h("br"),
          h("span", { class: "when", text: e.at.toLocaleTimeString() + " \u00b7 " + pct(d.fake_probability) + " fake" })),
        h("span", { class: "pill " + verdict, "data-testid": "history-pill", text: word }));
      btn.addEventListener("click", function () {
        if (!state.job) hideAlert();  // an earlier message; an image in flight keeps its own
        state.selected = e;
        state.face = null;
        showPreview(e.url, e.caption || e.name);
        renderResult(e);
        renderMeta(d);
        renderHistory();
      });
      els.history.appendChild(h("li", null, btn));
    });
    renderChart();
  }

  function renderChart() {
    var c = els.chart;
    Array.prototype.slice.call(c.childNodes).forEach(function (n) {
      if (n.nodeName !== "title" && n.nodeName !== "desc") c.removeChild(n);
    });
    // The drawing width follows the box so labels keep their size on a phone.
    var W = Math.max(300, Math.min(1200, Math.round(c.clientWidth || 600))), H = 180, L = 40, R = 14, T = 12, B = 26;
    c.setAttribute("viewBox", "0 0 " + W + " " + H);
    var items = state.history;
    var x = function (i) { return items.length <= 1 ? L + (W - L - R) / 2 : L + i * (W - L - R) / (items.length - 1); };
    var y = function (p) { return T + (1 - p) * (H - T - B); };
    [0, 0.25, 0.5, 0.75, 1].forEach(function (g) {
      c.appendChild(svg("line", { class: "grid-line", x1: L, x2: W - R, y1: y(g), y2: y(g) }));
      c.appendChild(svg("text", { x: L - 6, y: y(g) + 4, "text-anchor": "end", text: Math.round(g * 100) + "%" }));
    });
    c.appendChild(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    c.appendChild(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    var desc = c.querySelector("desc");
    if (!items.length) { desc.textContent = "No images analysed yet."; return; }
    var last = items[items.length - 1].result;
    var thr = thresholdOf(last);
    var band = bandOf(last, thr);
    if (band[1] > band[0]) {
      c.appendChild(svg("rect", { class: "band", x: L, width: W - R - L, y: y(band[1]), height: y(band[0]) - y(band[1]),
        "data-testid": "chart-band" }));
    }
    c.appendChild(svg("line", { class: "threshold", x1: L, x2: W - R, y1: y(thr), y2: y(thr), "data-testid": "chart-threshold" }));
    var thrLabel = svg("text", { x: W - R, y: y(thr) - 5, "text-anchor": "end", class: "thr-label", text: "threshold " + pct(thr, 0) });
    if (items.length > 1) {
      c.appendChild(svg("polyline", {
        class: "line", points: items.map(function (e, i) { return x(i) + "," + y(e.result.fake_probability); }).join(" "),
      }));
    }
    var counts = { real: 0, uncertain: 0, fake: 0 };
    items.forEach(function (e, i) {
      var p = e.result.fake_probability;
      var verdict = verdictOf(e.result, thresholdOf(e.result));
      counts[verdict] += 1;
      var dot = svg("circle", { cx: x(i), cy: y(p), r: items.length > 40 ? 3 : 5, class: "pt-" + verdict,
        "data-testid": "chart-point", "data-verdict": verdict });
      dot.appendChild(svg("title", { text: "#" + (i + 1) + " " + e.name + ": " + pct(p) + " (" + VERDICT_WORDS[verdict].badge + ")" }));
      c.appendChild(dot);
      if (items.length <= Math.floor(W / 40)) c.appendChild(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle", text: "#" + (i + 1) }));
    });
    c.appendChild(thrLabel);  // last: drawn over the line and the points
    desc.textContent = items.length + " image" + (items.length === 1 ? "" : "s") + " analysed: " + counts.fake + " FAKE, " +
      counts.uncertain + " UNCERTAIN, " + counts.real + " REAL. Latest fake probability " + pct(last.fake_probability) + ".";
  }

  // ------------------------------------------------------------------ wiring
  els.limit.textContent = bytes(CFG.maxImageBytes);
  els.file.addEventListener("change", function () {
    if (els.file.files && els.file.files[0]) takeFile(els.file.files[0], "picker");
    els.file.value = "";  // choosing the same file again still fires change
  });
  els.retry.addEventListener("click", function () { if (state.retryAction) state.retryAction(); });
  els.cancel.addEventListener("click", function () {
    cancelPending();
    idle();
    hideAlert();
    setStatus("Cancelled.");
  });

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (e) {
      if (!e.dataTransfer || Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") < 0) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      els.drop.classList.add("dragover");
    });
  });
  ["dragleave", "dragend"].forEach(function (type) {
    document.addEventListener(type, function (e) {
      if (type === "dragend" || e.target === document.documentElement || !e.relatedTarget) els.drop.classList.remove("dragover");
    });
  });
  document.addEventListener("drop", function (e) {
    els.drop.classList.remove("dragover");
    if (!e.dataTransfer || !e.dataTransfer.files || !e.dataTransfer.files.length) return;
    e.preventDefault();  // never navigate away to the dropped file
    takeFile(e.dataTransfer.files[0], "drop");
  });
  document.addEventListener("paste", function (e) {
    var items = (e.clipboardData && e.clipboardData.items) || [];
    for (var i = 0; i < items.length; i++) {
      if (items[i].kind === "file") {
        var f = items[i].getAsFile();
        if (f) { e.preventDefault(); takeFile(f, "clipboard"); return; }
      }
    }
  });
  renderChart();
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderChart, 100);
  });
  // The face tags are placed in screen pixels: again whenever the preview changes size.
  if (window.ResizeObserver) new ResizeObserver(function () { placeTags(); }).observe(els.faceLayer);

  // For tests: a read-only view of the session.
  window.detectorPage = {
    config: CFG,
    predictUrl: PREDICT_URL,
    history: function () { return state.history.map(function (e) { return e.result; }); },
    faceLayer: els.faceLayer,
  };
})();
