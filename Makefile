# Two entry points (README): `make run` serves on 127.0.0.1:8000, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install bench lint-rules eval clean system-deps test-ci

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "Python 3.11 or 3.12 is needed (durable-rules does not import on 3.13)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

# With no staff or admin token set, one of each is made for this run and printed, so that /queue
# and the admin endpoints (POST /v1/rules/reload) can be used on a laptop; they are never open
# without a token.
run: install
	@staff="$${IOTSEC_STAFF_TOKEN:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))')}"; \
	admin="$${IOTSEC_ADMIN_TOKEN:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))')}"; \
	echo "staff token for http://127.0.0.1:8000/queue (this run): $$staff"; \
	echo "admin token for POST /v1/rules/reload (this run):      $$admin"; \
	IOTSEC_STAFF_TOKEN="$$staff" IOTSEC_ADMIN_TOKEN="$$admin" exec $(BIN)/iotsec-triage serve --host 127.0.0.1 --port 8000

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench.engine_bench
	$(BIN)/python -m bench.http_bench

eval: install
	$(BIN)/iotsec-triage eval ../shared/real-items-dev.jsonl

clean:
	rm -rf $(VENV) build *.egg-info

# System packages beyond Python for the full suite (root, Debian): chromium and a PostgreSQL
# cluster on 127.0.0.1. Prints the IOTSEC_TEST_POSTGRES_URL line to eval. `make test` runs
# without them (those tests skip with a reason); `make test-ci` is what CI runs.
system-deps:
	bash .ci/provision.sh

test-ci:
	CI=true bash .ci/run
