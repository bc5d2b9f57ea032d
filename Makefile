# Books360 <-> QuickBooks Online sync. `make up` runs the local stack; `make test` runs every check and test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# cfn-lint 1.53.3 is the last release that applies the SAM transform; its aws-sam-translator pins pydantic
# below ours, so it lives in a tools virtualenv of its own. aws-sam-cli likewise (.venv-sam).
CFN_VENV := .venv-cfn
SAM_VENV := .venv-sam
CFN_LINT_VERSION := 1.53.3
SAM_CLI_VERSION := 1.170.0
FUNCTIONS := $(sort $(dir $(wildcard functions/*/app.py)))

.PHONY: up test lint typecheck cfn-lint pytest chromium fmt openapi tools build deploy clean

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(CFN_VENV)/.installed:
	@test -x $(CFN_VENV)/bin/python || $(PYTHON) -m venv $(CFN_VENV)
	@$(CFN_VENV)/bin/python -m pip install --quiet cfn-lint==$(CFN_LINT_VERSION)
	@touch $@

up: $(BIN)/.installed
	@$(BIN)/python -m local

# What `make test` needs is installed first, side by side (downloads and unpacking, mostly waiting on the network:
# on a clean machine aws-sam-cli and chromium take as long as the project's own virtualenv), then the checks and
# the tests run one after the other (the tests time what they measure: nothing else runs beside them).
INSTALLS = $(BIN)/.installed $(CFN_VENV)/.installed $(if $(IN_CI),$(SAM_VENV)/.installed) chromium
test:
	@$(MAKE) --no-print-directory -j4 --output-sync=target $(INSTALLS)
	@$(MAKE) --no-print-directory lint typecheck cfn-lint pytest

lint: $(BIN)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy shared emulator local tools
	@# Every function's folder is its own Lambda root (each has an `app` module), so each is checked alone.
	@for f in $(FUNCTIONS); do $(BIN)/mypy --no-error-summary $$f || exit 1; done

# Then SAM CLI's own checks, both offline (no credentials, no network): `sam validate` runs the SAM translator
# (it refuses a misspelt event property), `--lint` its bundled cfn-lint, a release that no longer applies the SAM
# transform (so the pinned cfn-lint above stays the main check). aws-sam-cli is a large install: in CI (CI set, as
# .ci/run does) it is installed in .venv-sam; elsewhere a missing one is skipped with a warning (`make tools`).
IN_CI := $(filter-out 0 false no,$(CI))
SAM_VALIDATE := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --template template.yaml --region us-east-1
cfn-lint: $(CFN_VENV)/.installed $(if $(IN_CI),$(SAM_VENV)/.installed)
	$(CFN_VENV)/bin/cfn-lint template.yaml
	@if [ -x $(SAM_VENV)/bin/sam ]; then \
		echo "$(SAM_VALIDATE) && $(SAM_VALIDATE) --lint"; $(SAM_VALIDATE) && $(SAM_VALIDATE) --lint; \
	else \
		echo "!!! SKIPPED: sam validate --lint (aws-sam-cli is not in $(SAM_VENV); \`make tools\` installs it) !!!" >&2; \
	fi

# Several workers (pytest-xdist): the tests mostly wait (QuickBooks' latency, pacing, SQS), one core half busy when
# run one at a time. A test file stays on one worker, the local-stack tests (e2e, browser) all on one (conftest).
# Two, not three: with three on two cores the e2e stack's emulator was starved enough for calls paced 125 ms apart
# to arrive bunched (one 429 where the e2e bulk job asserts none).
PYTEST_WORKERS ?= 2
pytest: $(BIN)/.installed $(CFN_VENV)/.installed chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The browser tests (tests/browser) drive Debian's chromium through Playwright's executable_path (Playwright's own
# browser download is not reachable). Installed when missing: as root, else with sudo when there is one; apt-get
# update only if the install fails without it; waits for another apt's lock. Where it cannot be installed, the
# browser tests fail in CI and are skipped loudly elsewhere (tests/browser/conftest.py), so this never stops here.
CHROMIUM := /usr/bin/chromium
APT_GET := DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,$(if $(shell command -v sudo),sudo -E -n,)) \
	apt-get -o DPkg::Lock::Timeout=300 -y -q
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		$(APT_GET) install chromium >/dev/null 2>&1 \
		|| { $(APT_GET) update >/dev/null && $(APT_GET) install chromium >/dev/null; } \
		|| echo "!!! chromium could not be installed: the browser tests will fail in CI, be skipped elsewhere !!!" >&2; \
	fi

fmt: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: $(BIN)/.installed
	$(BIN)/python -m tools.openapi > openapi.json

tools: $(SAM_VENV)/.installed
$(SAM_VENV)/.installed:
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	@$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

build: tools
	$(SAM_VENV)/bin/sam build

deploy: build
	$(SAM_VENV)/bin/sam deploy --guided

# Called by `sam build` for the SharedLayer (BuildMethod: makefile): the `shared` package and its runtime
# dependencies, as arm64 wheels, under python/ as Lambda layers expect. tests/infrastructure/test_layer.py runs this
# very recipe with LAYER_PLATFORM= (wheels for the host) and imports every function from the result alone.
LAYER_PLATFORM := --platform manylinux2014_aarch64 --implementation cp --python-version 3.11
build-SharedLayer:
	pip install --quiet --target "$(ARTIFACTS_DIR)/python" $(LAYER_PLATFORM) --only-binary=:all: --upgrade .

clean:
	rm -rf $(VENV) $(CFN_VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
