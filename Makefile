# Relay — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The lock files (README, "Dependencies and the lock files"): build.txt holds pip and setuptools,
# dev.txt every package of Relay, its `embedded` and `test` extras, prod.txt what the image runs.
LOCKS  := requirements/build.txt requirements/dev.txt
STAMP_INPUTS := pyproject.toml services/simulator/pyproject.toml $(LOCKS)
STAMP  := $(VENV)/.installed-$(shell cat $(STAMP_INPUTS) | sha1sum | cut -c1-12)
COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: install lock run test test-unit test-integration test-e2e chaos bench bench-quick lint typecheck clean

install: $(STAMP)

## Installs from the lock files only: every package pinned and checked against its hash, none
## resolved here (--no-deps); then Relay and the simulator themselves, editable, also --no-deps.
$(STAMP): $(STAMP_INPUTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --require-hashes --no-deps -r requirements/build.txt
	@$(PY) -m pip install -q --require-hashes --no-deps -r requirements/dev.txt
	@$(PY) -m pip install -q --no-deps --no-build-isolation -e . -e services/simulator
	@rm -f $(VENV)/.installed-* && touch $@

## make lock: re-resolve the lock files from pyproject.toml and requirements/build.in, keeping
## every pin that still fits; `make lock UPGRADE=1` takes the newest versions that fit.
lock: install
	@$(COMPILE) pyproject.toml requirements/build.in --extra embedded --extra test \
		-o requirements/dev.txt
	@$(COMPILE) pyproject.toml -c requirements/dev.txt -o requirements/prod.txt
	@$(COMPILE) requirements/build.in -c requirements/dev.txt -o requirements/build.txt

## make run: install what is missing and run everything on embedded defaults until Ctrl-C.
run: install
	@INSTALL=1 scripts/ensure-rabbitmq.sh
	@$(VENV)/bin/relay up

## make test: install what is missing, start RabbitMQ if needed, run every test tier.
test: install
	@scripts/ensure-rabbitmq.sh
	@scripts/ensure-promtool.sh
	@$(PY) -m pytest tests

test-unit: install
	@$(PY) -m pytest tests/unit

test-integration: install
	@scripts/ensure-rabbitmq.sh
	@$(PY) -m pytest tests/integration

test-e2e: install
	@scripts/ensure-rabbitmq.sh
	@$(PY) -m pytest tests/e2e

## make bench: every benchmark on the local stack, beside its floor; writes BENCHMARKS.md.
## ARGS passes options, e.g. make bench ARGS="--only accept,send".
bench: install
	@scripts/ensure-rabbitmq.sh
	@$(PY) -m bench $(ARGS)

## make bench-quick: the same with small counts (under 2 minutes).
bench-quick: install
	@scripts/ensure-rabbitmq.sh
	@$(PY) -m bench --quick $(ARGS)

## make chaos: the long fault suite (the short form runs inside make test).
chaos: install
	@scripts/ensure-rabbitmq.sh
	@RELAY_CHAOS_LONG=1 $(PY) -m pytest tests/chaos -m chaos -s

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy

typecheck: install
	@$(VENV)/bin/mypy

clean:
	rm -rf .relay .pytest_cache .mypy_cache .ruff_cache
