# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEBUG ?= 1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test check-samples lint messages browser bench clean-data fault-repeat

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

messages: install
	$(PY) -m portal.compile_translations

# Debian's Chromium (never a downloaded browser) and axe-core for the
# end-to-end tests.
browser:
	command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null)
	test -f node_modules/axe-core/axe.min.js || npm ci --no-audit --no-fund --silent

DEMO_DPO ?= dpo@localhost
DEMO_DPO_PASSWORD ?= demo-dpo-password-2026

demo: install messages
	DEBUG=$(DEBUG) $(PY) manage.py migrate --noinput -v 0
	DEBUG=$(DEBUG) $(PY) manage.py collectstatic --noinput -v 0
	DEBUG=$(DEBUG) $(PY) manage.py seed_demo
	@DEBUG=$(DEBUG) DPO_PASSWORD='$(DEMO_DPO_PASSWORD)' $(PY) manage.py createdpo $(DEMO_DPO) \
	  >/dev/null 2>&1 && echo "Demo DPO account: $(DEMO_DPO) / $(DEMO_DPO_PASSWORD) at /dpo/" \
	  || echo "Demo DPO account: $(DEMO_DPO) (already there) at /dpo/"
	DEBUG=$(DEBUG) $(PY) manage.py rundemo

lint: install
	$(VENV)/bin/ruff check .

# The tests read labelled photos of real people from FACE_SAMPLES_DIR
# (default ../shared/faces), never from the repository: without them, one
# sentence and a stop before anything else runs.
check-samples:
	@$(PY) -m portal.samples

test: install check-samples messages lint browser
	$(VENV)/bin/pytest

# Benchmarks on a database of their own (bench_portal); about 30-45 minutes on
# 2 cores. Writes bench/results/*.json, docs/performance.md and docs/scaling.md.
bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	DEBUG=$(DEBUG) $(PY) -m bench.run

clean-data:
	-$(PY) manage.py embedded_db stop
	rm -rf var

# The fault tests (the fault matrix, the broker restart) ten times in a row;
# stops at the first run that fails. REPEAT=n for another count.
REPEAT ?= 10
FAULT_TESTS := tests/portal/test_fault_matrix.py tests/portal/test_faults.py
fault-repeat: install check-samples messages
	@for n in $$(seq 1 $(REPEAT)); do \
	  $(VENV)/bin/pytest -q -p no:cacheprovider $(FAULT_TESTS) \
	    || { echo "fault tests: run $$n of $(REPEAT) failed"; exit 1; }; \
	  echo "fault tests: run $$n of $(REPEAT) passed"; \
	done
