# Two commands do all set-up on a fresh machine:
#   make demo   - build the virtual environment if needed, run the default benchmark, print the table
#   make test   - build the virtual environment if needed, run the test suite
# VENV may point outside the checkout (CI keeps one per hash of the pinned dependencies).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
LOCKS := $(wildcard requirements/*.txt)
DEPS_HASH := $(shell cat $(LOCKS) | sha256sum | cut -c1-16)
STAMP := $(VENV)/.deps-$(DEPS_HASH)
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

.PHONY: demo test lint venv install browser clean

venv: $(STAMP)

$(STAMP): $(LOCKS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	$(PIP) install --quiet -r requirements/lock.txt
	@if [ -f requirements/tensorrt.txt ]; then $(PIP) install --quiet -c requirements/lock.txt -r requirements/tensorrt.txt; fi
	$(PIP) install --quiet --no-deps -r requirements/nodeps.txt
	@rm -f $(VENV)/.deps-*
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
	rm -rf $(VENV) runs .pytest_cache
