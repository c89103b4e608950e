# Relay — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install run test test-unit test-integration test-e2e chaos bench bench-quick lint typecheck clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

## make run: install what is missing and run everything on embedded defaults until Ctrl-C.
run: install
	@INSTALL=1 scripts/ensure-rabbitmq.sh
	@$(VENV)/bin/relay up

## make test: install what is missing, start RabbitMQ if needed, run every test tier.
test: install
	@scripts/ensure-rabbitmq.sh
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
