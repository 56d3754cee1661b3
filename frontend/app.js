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
    overlay: $("overlay"), info: $("file-info"), status: $("status"), alert: $("alert"),
    alertTitle: $("alert-title"), alertText: $("alert-text"), countdown: $("countdown"), retry: $("retry"),
    cancel: $("cancel"), result: $("result"), meta: $("meta"), chart: $("chart"), history: $("history"),
    historyEmpty: $("history-empty"),
  };

  var state = {
    job: null,          // the image being analysed
    controller: null,   // AbortController of the request in flight
    timer: null,        // countdown interval
    retryAction: null,  // what the Retry button does
    history: [],        // {id, name, url, thumb, result, rttMs, at}
    selected: null,
    seq: 0,
    heatmap: false,     // show the explained face's occlusion map on the preview
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
      return {
        title: "Image too large",
        text: "\u201c" + file.name + "\u201d is " + bytes(file.size) + "; the limit is " + bytes(CFG.maxImageBytes) +
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
      idle();
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
    clear(els.overlay);
    var stage = els.img.parentNode;
    stage.classList.remove("no-preview");
    els.img.onload = function () {
      // Overlays are drawn in image pixels: the SVG's viewBox follows the image's natural size.
      els.overlay.setAttribute("viewBox", "0 0 " + els.img.naturalWidth + " " + els.img.naturalHeight);
    };
    els.img.onerror = function () { stage.classList.add("no-preview"); };
    els.img.src = url;
    els.img.alt = "Preview of " + caption.split(" \u00b7 ")[0];
    els.info.textContent = caption;
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
    state.history.push(entry);
    state.selected = entry;
    renderResult(entry);
    renderMeta(data);
    renderHistory();
    state.job = null;
    if (job.thumb) job.thumb.then(function (t) { entry.thumb = t; renderHistory(); });
  }

  function resetResult(text) {
    state.selected = null;
    clear(els.result);
    els.result.appendChild(h("p", { class: "empty", text: text }));
    clear(els.meta);
    els.meta.appendChild(h("p", { class: "empty", text: "Metadata appears with the result." }));
    if (state.history.length) renderHistory();
  }

  function renderResult(entry) {
    var d = entry.result;
    var p = d.fake_probability;
    var thr = typeof d.threshold === "number" ? d.threshold : 0.5;
    var label = String(d.label || (p >= thr ? "FAKE" : "REAL")).toUpperCase();
    var fake = label === "FAKE";
    var conf = typeof d.confidence === "number" ? d.confidence : (fake ? p : 1 - p);
    var model = d.model || {};
    var img = d.image || {};
    var t = d.timings_ms || {};
    clear(els.result);
    append(els.result, [
      h("div", { class: "verdict " + (fake ? "fake" : "real"), "data-testid": "verdict" },
        h("span", { class: "badge", text: label }),
        h("p", null,
          h("strong", { text: fake ? "Likely generated or manipulated" : "No sign of manipulation found" }),
          h("br"),
          "for \u201c" + entry.name + "\u201d")),
      h("div", { class: "bar-label" },
        h("span", null, h("span", { id: "bar-label", text: "Fake probability" }),
          h("span", { class: "thr-note", text: " (threshold " + pct(thr, 0) + ")" })),
        h("strong", { text: pct(p) })),
      (function () {
        var bar = h("div", {
          class: "bar", role: "meter", "aria-labelledby": "bar-label", "aria-valuemin": 0, "aria-valuemax": 100,
          "aria-valuenow": (100 * p).toFixed(1), "aria-valuetext": pct(p) + " fake; threshold " + pct(thr, 0),
          "data-testid": "probability-bar",
        });
        var fill = h("div", { class: "bar-fill " + (fake ? "fake" : "real") });
        fill.style.width = (100 * Math.max(0, Math.min(1, p))) + "%";
        var mark = h("div", { class: "bar-threshold", title: "Threshold " + thr.toFixed(2), "data-testid": "threshold-marker" });
        mark.style.left = "calc(" + (100 * thr) + "% - 1.5px)";
        bar.appendChild(fill);
        bar.appendChild(mark);
        return bar;
      })(),
      (function () {
        var scale = h("div", { class: "bar-scale", "aria-hidden": "true" });
        var a = h("span", { class: "start", text: "0%" });
        // Short label under the marker; left out where it would run into "0%" or "100%".
        var b = h("span", { class: "thr", text: "\u25b2 " + pct(thr, 0) });
        if (thr < 0.1 || thr > 0.9) b.hidden = true;
        var c = h("span", { class: "end", text: "100%" });
        a.style.left = "0"; b.style.left = (100 * thr) + "%"; c.style.left = "100%";
        scale.appendChild(a); scale.appendChild(b); scale.appendChild(c);
        return scale;
      })(),
      h("dl", { class: "facts" },
        h("dt", { text: "Confidence" }), h("dd", { "data-testid": "confidence", text: pct(conf) }),
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

  // ------------------------------------------------------------------ faces on the preview
  // The API judges faces, not frames: `faces` [{box [x0,y0,x1,y1] in image pixels, score,
  // fake_probability, label, crop}], the verdict is the most-fake face (`verdict_source`), and
  // `explain` {face, grid, values[row][col], max_abs} is an occlusion map of the judged crop
  // (positive = that region pushed P(fake) up).
  function facesSummary(entry) {
    var d = entry.result;
    if (!Array.isArray(d.faces)) return null;
    var src = isObj(d.verdict_source) ? d.verdict_source : {};
    var n = d.faces.length;
    var text = n === 0 ? "No face found: the whole image was judged." :
      n === 1 ? "1 face found." : n + " faces found; the verdict is the most-fake face (#" + (src.face + 1) + ").";
    var box = h("div", { class: "faces-summary", "data-testid": "faces-summary" }, h("p", { text: text }));
    if (entry.file || isObj(d.explain)) {
      var shown = state.heatmap && isObj(d.explain);
      var btn = h("button", { type: "button", class: "button ghost", "aria-pressed": shown ? "true" : "false",
        "data-testid": "heatmap-toggle", text: shown ? "Hide heatmap" : "Show heatmap" });
      var setShown = function (on) {
        state.heatmap = on;
        btn.setAttribute("aria-pressed", on ? "true" : "false");
        btn.textContent = on ? "Hide heatmap" : "Show heatmap";
        var g = els.overlay.querySelector("[data-testid=heatmap]");
        if (g) g.setAttribute("visibility", on ? "visible" : "hidden");
      };
      btn.addEventListener("click", function () {
        if (isObj(d.explain)) return setShown(btn.getAttribute("aria-pressed") !== "true");
        btn.disabled = true;
        btn.textContent = "Computing heatmap\u2026";
        explainEntry(entry).then(function () {
          btn.disabled = false;
          if (state.selected === entry) renderFaces(entry);
          setShown(true);
        }, function (why) {
          btn.disabled = false;
          btn.textContent = "Show heatmap";
          showAlert("No heatmap", why, { warn: true });
        });
      });
      append(box, [btn, h("span", { class: "hint", text: " red: regions that pushed toward FAKE, blue: toward REAL (" +
        (src.face === null || src.face === undefined ? "whole image" : "face #" + (src.face + 1)) + ")" })]);
    }
    return box;
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

  function renderFaces(entry) {
    clear(els.overlay);
    var d = entry && entry.result;
    if (!d || !Array.isArray(d.faces)) return;
    var img = d.image || {};
    var W = img.width || els.img.naturalWidth, H = img.height || els.img.naturalHeight;
    if (!W || !H) return;
    els.overlay.setAttribute("viewBox", "0 0 " + W + " " + H);
    var thr = typeof d.threshold === "number" ? d.threshold : 0.5;
    var src = isObj(d.verdict_source) ? d.verdict_source : {};
    var ex = isObj(d.explain) ? d.explain : null;
    if (ex && Array.isArray(ex.values) && ex.grid) {
      var face = (ex.face !== null && ex.face !== undefined) ? d.faces[ex.face] : null;
      var area = face && Array.isArray(face.crop) ? face.crop : [0, 0, W, H];
      var g = svg("g", { "data-testid": "heatmap", visibility: state.heatmap ? "visible" : "hidden" });
      var cw = (area[2] - area[0]) / ex.grid, ch = (area[3] - area[1]) / ex.grid;
      var top = ex.max_abs > 0 ? ex.max_abs : 1;
      ex.values.forEach(function (row, r) {
        row.forEach(function (v, c) {
          var a = Math.min(1, Math.abs(v) / top) * 0.65;
          if (a < 0.02) return;
          g.appendChild(svg("rect", {
            x: area[0] + c * cw, y: area[1] + r * ch, width: cw, height: ch,
            fill: v > 0 ? "rgb(220,38,38)" : "rgb(37,99,235)", "fill-opacity": a.toFixed(3), class: "heat-cell",
          }));
        });
      });
      g.appendChild(svg("rect", { x: area[0], y: area[1], width: area[2] - area[0], height: area[3] - area[1],
        fill: "none", stroke: "#fff", "stroke-dasharray": "6 4", "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" }));
      els.overlay.appendChild(g);
    }
    var font = Math.max(10, Math.round(Math.max(W, H) * 0.028));
    d.faces.forEach(function (f, i) {
      if (!Array.isArray(f.box)) return;
      var fake = String(f.label || (f.fake_probability >= thr ? "FAKE" : "REAL")).toUpperCase() === "FAKE";
      var colour = fake ? "#dc2626" : "#16a34a";
      var x = f.box[0], y = f.box[1], w = f.box[2] - f.box[0], hgt = f.box[3] - f.box[1];
      var verdict = src.face === i && d.faces.length > 1;
      var g = svg("g", { "data-testid": "face-box", "data-label": fake ? "FAKE" : "REAL" });
      g.appendChild(svg("rect", { x: x, y: y, width: w, height: hgt, fill: "none", stroke: colour,
        "stroke-width": verdict ? 4 : 2.5, "vector-effect": "non-scaling-stroke" }));
      var text = "#" + (i + 1) + " " + (fake ? "FAKE" : "REAL") + " " + pct(f.fake_probability, 0) + (verdict ? " ★" : "");
      var tw = font * 0.66 * text.length + font * 0.4, th = font * 1.35;
      var ty = y - th >= 0 ? y - th : y + hgt;
      g.appendChild(svg("rect", { x: x, y: ty, width: tw, height: th, fill: colour, "fill-opacity": 0.9 }));
      g.appendChild(svg("text", { x: x + font * 0.3, y: ty + font * 1.0, fill: "#fff", "font-size": font,
        "font-family": "system-ui, sans-serif", "font-weight": 700, "data-testid": "face-label", text: text }));
      els.overlay.appendChild(g);
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
      var fake = String(d.label).toUpperCase() === "FAKE";
      var n = state.history.length - i;
      var btn = h("button", {
        type: "button", "aria-current": state.selected === e ? "true" : "false",
        "aria-label": "#" + n + " " + e.name + ": " + (fake ? "FAKE" : "REAL") + ", fake probability " + pct(d.fake_probability) + ". Show this result.",
      },
        e.thumb ? h("img", { src: e.thumb, alt: "" }) : h("span", { class: "thumb-missing" }),
        h("span", null, h("span", { class: "name", text: "#" + n + " " + e.name }), h("br"),
          h("span", { class: "when", text: e.at.toLocaleTimeString() + " \u00b7 " + pct(d.fake_probability) + " fake" })),
        h("span", { class: "pill " + (fake ? "fake" : "real"), text: fake ? "FAKE" : "REAL" }));
      btn.addEventListener("click", function () {
        state.selected = e;
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
    var thr = typeof last.threshold === "number" ? last.threshold : 0.5;
    c.appendChild(svg("line", { class: "threshold", x1: L, x2: W - R, y1: y(thr), y2: y(thr), "data-testid": "chart-threshold" }));
    var thrLabel = svg("text", { x: W - R, y: y(thr) - 5, "text-anchor": "end", class: "thr-label", text: "threshold " + pct(thr, 0) });
    if (items.length > 1) {
      c.appendChild(svg("polyline", {
        class: "line", points: items.map(function (e, i) { return x(i) + "," + y(e.result.fake_probability); }).join(" "),
      }));
    }
    items.forEach(function (e, i) {
      var p = e.result.fake_probability;
      var fake = String(e.result.label).toUpperCase() === "FAKE";
      var dot = svg("circle", { cx: x(i), cy: y(p), r: items.length > 40 ? 3 : 5, class: fake ? "pt-fake" : "pt-real", "data-testid": "chart-point" });
      dot.appendChild(svg("title", { text: "#" + (i + 1) + " " + e.name + ": " + pct(p) + " (" + (fake ? "FAKE" : "REAL") + ")" }));
      c.appendChild(dot);
      if (items.length <= Math.floor(W / 40)) c.appendChild(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle", text: "#" + (i + 1) }));
    });
    c.appendChild(thrLabel);  // last: drawn over the line and the points
    var fakes = items.filter(function (e) { return String(e.result.label).toUpperCase() === "FAKE"; }).length;
    desc.textContent = items.length + " image" + (items.length === 1 ? "" : "s") + " analysed: " + fakes + " FAKE, " +
      (items.length - fakes) + " REAL. Latest fake probability " + pct(last.fake_probability) + ".";
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

  // For tests and later overlays (face boxes, heatmaps): read-only view of the session.
  window.detectorPage = {
    config: CFG,
    predictUrl: PREDICT_URL,
    history: function () { return state.history.map(function (e) { return e.result; }); },
    overlay: els.overlay,
  };
})();
