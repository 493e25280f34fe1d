# The two commands a newcomer needs: `make demo` and `make test`.
# Both create or refresh the virtualenv (.venv, via uv from uv.lock) and node_modules
# (npm ci from package-lock.json) when missing or stale, and skip that when current.
# Each installs only what it needs: the demo the runtime, the tests also the dev tools,
# the benchmarks also MLflow (the model-server comparison).
# Site-packages are compiled to bytecode at install time: tests start many Python
# processes (jobs, model servers), and environments that set PYTHONDONTWRITEBYTECODE
# would otherwise recompile scikit-learn and pandas in every one of them.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV_STAMP := .venv/.synced
DEV_STAMP := .venv/.synced-dev
BENCH_STAMP := .venv/.synced-bench
NODE_STAMP := node_modules/.synced
SYNC = $(UV) sync --frozen --inexact --compile-bytecode --python $(PYTHON)

export UV_PYTHON_DOWNLOADS := never
# jsii takes the Node major versions to stay quiet about (a list), not a flag.
NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := $(NODE_MAJOR)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(NODE_MAJOR)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := $(NODE_MAJOR)
export CDK_HOME := $(CURDIR)/.cdk
export JSII_RUNTIME_PACKAGE_CACHE_ROOT := $(CURDIR)/.jsii-cache

# The framework image runtimes the tests and the demo run on (localcloud builds any other on first
# use). Built here, from PyPI, so that tests and the demo never need the network; cached in
# ~/.cache/localcloud/runtimes (LOCALCLOUD_RUNTIMES_DIR), so a second run builds nothing.
RUNTIMES := sagemaker-scikit-learn:1.9-0 sagemaker-scikit-learn:1.2-1

# Debian's chromium and its driver, for the page tests (a real browser opens the HTML report).
# Installed with apt when missing (as root, or through sudo); SAGESTACK_CHROMIUM and
# SAGESTACK_CHROMEDRIVER name other binaries instead (a CI image's Chrome).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM ?= $(or $(SAGESTACK_CHROMIUM),/usr/bin/chromium)
CHROMEDRIVER ?= $(or $(SAGESTACK_CHROMEDRIVER),/usr/bin/chromedriver)

# The LocalStack tier of `make test`: LocalStack's open-source runtime on the host (it needs Python
# 3.13; no Docker) in its own virtualenv, from a lock, with the providers that let its CloudFormation
# make SageMaker resources in localcloud (integrations/localstack-sagemaker). Without a Python 3.13
# on the machine the tier is skipped, and says why.
LOCALSTACK_SRC := integrations/localstack-sagemaker
LOCALSTACK_VENV := .localstack/venv
LOCALSTACK_STAMP := $(LOCALSTACK_VENV)/.synced

.PHONY: setup runtimes browser localstack demo test lint bench clean

setup: $(DEV_STAMP) $(NODE_STAMP)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV_STAMP): pyproject.toml uv.lock | $(UV)
	$(SYNC)
	@touch $@

$(DEV_STAMP): $(VENV_STAMP)
	$(SYNC) --extra dev
	@touch $@

$(BENCH_STAMP): $(DEV_STAMP)
	$(SYNC) --extra dev --extra bench
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

browser:
	@if [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ]; then :; else \
	  echo "installing Debian's chromium and chromium-driver for the page tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver >/dev/null; fi

localstack: $(LOCALSTACK_STAMP)

$(LOCALSTACK_STAMP): $(LOCALSTACK_SRC)/requirements.txt $(LOCALSTACK_SRC)/pyproject.toml \
		$(wildcard $(LOCALSTACK_SRC)/localcloud_localstack/*.py) | $(VENV_STAMP)
	@python=$$(.venv/bin/python -c 'from localcloud.runtimes.interpreters import find_python; print(find_python("3.13") or "")'); \
	[ -n "$$python" ] || python=$$($(UV) python find 3.13 2>/dev/null); \
	if [ -z "$$python" ]; then mkdir -p .localstack; \
	  echo "no Python 3.13 on this machine (LocalStack's runtime needs it)" > .localstack/unavailable; \
	  echo "LocalStack tier: skipped, no Python 3.13 on this machine"; exit 0; fi; \
	rm -f .localstack/unavailable; \
	$(UV) venv -q --allow-existing --python "$$python" $(LOCALSTACK_VENV) && \
	$(UV) pip install -q --python $(LOCALSTACK_VENV)/bin/python -r $(LOCALSTACK_SRC)/requirements.txt && \
	$(UV) pip install -q --python $(LOCALSTACK_VENV)/bin/python --no-deps --reinstall ./$(LOCALSTACK_SRC) && \
	touch $@

runtimes: $(VENV_STAMP)
	.venv/bin/python -m localcloud.runtimes build $(RUNTIMES)

demo: $(VENV_STAMP) $(NODE_STAMP)
	.venv/bin/python -m localcloud.runtimes build sagemaker-scikit-learn:1.9-0
	.venv/bin/sagestack demo

lint: $(DEV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# Two workers (pytest-xdist): most tests wait on processes they started, not on the CPU. A module's tests
# stay on one worker (tests/conftest.py), so its fixtures are built once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: setup lint runtimes browser localstack
	SAGESTACK_REQUIRE_BROWSER=1 SAGESTACK_REQUIRE_LOCALSTACK=1 .venv/bin/python -m pytest -n $(TEST_WORKERS) \
	  --dist loadscope

bench: $(BENCH_STAMP) $(NODE_STAMP) runtimes
	.venv/bin/python bench/serving.py
	.venv/bin/python bench/localcloud_costs.py
	.venv/bin/python bench/runtimes.py
	.venv/bin/python bench/model_monitor.py
	.venv/bin/python bench/deployments.py
	.venv/bin/python bench/persistence.py
	.venv/bin/python bench/cdk_deploy.py
	.venv/bin/python bench/console.py
	.venv/bin/python bench/demo.py

clean:
	rm -rf .venv .tools node_modules cdk.out .cdk .jsii-cache .pytest_cache .ruff_cache test-artifacts .localstack
