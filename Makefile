# Two commands do all set-up on a fresh machine:
#   make demo   - build the virtual environment if needed, run the default benchmark, print the table
#   make test   - build the virtual environment if needed, run the test suite
# VENV may point outside the checkout (CI keeps one per hash of the pinned dependencies).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# gpu.txt is the GPU environment's alone (it replaces a package of lock.txt): see venv-gpu
LOCKS := $(filter-out requirements/gpu.txt,$(wildcard requirements/*.txt))
DEPS_HASH := $(shell cat $(LOCKS) | sha256sum | cut -c1-16)
STAMP := $(VENV)/.deps-$(DEPS_HASH)
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=
VENV_GPU ?= .venv-gpu
PIP_GPU := $(VENV_GPU)/bin/python -m pip --disable-pip-version-check
GPU_STAMP := $(VENV_GPU)/.deps-$(shell cat $(LOCKS) requirements/gpu.txt | sha256sum | cut -c1-16)

.PHONY: demo test lint venv venv-gpu install browser clean

venv: $(STAMP)

$(STAMP): $(LOCKS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	$(PIP) install --quiet -r requirements/lock.txt
	@if [ -f requirements/tensorrt.txt ]; then $(PIP) install --quiet -c requirements/lock.txt -r requirements/tensorrt.txt; fi
	$(PIP) install --quiet --no-deps -r requirements/nodeps.txt
	@rm -f $(VENV)/.deps-*
	@touch $@

# A second environment for NVIDIA GPUs: the same pinned packages, but ONNX Runtime's GPU build
# (requirements/gpu.txt) in place of the CPU build: the two cannot share an environment. It holds
# the project too (editable): .venv-gpu/bin/quantarena list shows what runs on this machine.
venv-gpu: $(GPU_STAMP)

$(GPU_STAMP): $(LOCKS) requirements/gpu.txt
	@test -x $(VENV_GPU)/bin/python || $(PYTHON) -m venv $(VENV_GPU)
	$(PIP_GPU) install --quiet --upgrade "pip>=24"
	$(PIP_GPU) install --quiet -r requirements/lock.txt
	@if [ -f requirements/tensorrt.txt ]; then $(PIP_GPU) install --quiet -c requirements/lock.txt -r requirements/tensorrt.txt; fi
	$(PIP_GPU) install --quiet --no-deps -r requirements/nodeps.txt
	$(PIP_GPU) uninstall --quiet --yes onnxruntime
	$(PIP_GPU) install --quiet -c requirements/lock.txt -r requirements/gpu.txt
	$(PIP_GPU) install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV_GPU)/.deps-*
	@touch $@

# The project itself, editable, always re-pointed at this checkout (cheap, no dependencies).
install: venv
	@$(PIP) install --quiet --no-deps --no-build-isolation -e .

# Headless Chromium from Debian's packages, for the tests that open report.html in a browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: browser tests will be skipped"; fi; }

# Each `make demo` replaces the previous demo run (--overwrite empties only a quantarena run folder).
demo: install
	$(VENV)/bin/quantarena run --out $(DEMO_OUT) --overwrite

# Lint and types are part of the tests: a change that breaks either fails `make test` (and CI).
lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: lint browser
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(VENV_GPU) runs .pytest_cache
