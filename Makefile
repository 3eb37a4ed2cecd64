# Two entry points (README): `make run` serves on 127.0.0.1:8000, `make test` runs every test.
#
# The interpreter: PYTHON=... if given, else the newest of python3.13, python3.12, python3.11 on
# PATH that actually runs (a pyenv shim for a version that is not selected does not), else
# python3 if it is 3.11 to 3.13. The venv is VENV (default .venv); it is rebuilt when PYTHON's
# minor version differs from the one it was made with (the stamp file names the version).
SUPPORTED_CHECK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
	"$$p" -c '$(SUPPORTED_CHECK)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
endif
VENV ?= .venv
BIN := $(VENV)/bin
# e.g. 3.13; empty when PYTHON does not run (the install recipe then says so)
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
STAMP := $(BIN)/.installed-py$(PYVER)
# durable-rules 2.0.28 (source only) calls PyEval_CallObject, which Python 3.13 removed;
# PyObject_CallObject is the same call. Only from 3.13 on: 3.11 and 3.12 still define the old
# name (the define would only earn a "redefined" warning there).
DURABLE_CPPFLAGS := $(if $(filter 3.11 3.12,$(PYVER)),,-DPyEval_CallObject=PyObject_CallObject)

.PHONY: run test install bench lint-rules eval clean system-deps test-ci

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python 3.11 to 3.13 found (tried python3.13, python3.12, python3.11, python3); set PYTHON=/path/to/python3.x" >&2; exit 1; }
	@$(PYTHON) -c '$(SUPPORTED_CHECK)' || { echo "$(PYTHON) is not Python 3.11 to 3.13 (PYTHON=...)" >&2; exit 1; }
	@if [ -x $(BIN)/python ] && [ ! -e $@ ]; then echo "recreating $(VENV) for Python $(PYVER)"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# durable-rules first, compiled here (with the define on 3.13): never a wheel from an index or
	@# from pip's cache (one built without the define installs on 3.13 but does not import).
	CPPFLAGS="$(DURABLE_CPPFLAGS) $$CPPFLAGS" $(BIN)/python -m pip install -q --no-cache-dir --no-binary durable-rules \
		"$$($(BIN)/python -c 'import tomllib; print(next(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if d.startswith("durable-rules")))')"
	$(BIN)/python -c 'import durable.lang'
	@# setuptools' build output (notes on editable installs) goes to a log, shown only on failure,
	@# so that nothing buries what `make run` prints.
	@$(BIN)/python -m pip install -q -e '.[test]' > $(VENV)/pip-install.log 2>&1 || { cat $(VENV)/pip-install.log; exit 1; }
	touch $@

install: $(STAMP)

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
	$(BIN)/python -m bench.cli_bench

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
