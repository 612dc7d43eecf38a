# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-stamp
TEST_STAMP := $(VENV)/.test-stamp
DOCS_STAMP := $(VENV)/.docs-stamp
DEBUG ?= 1
# Milliseconds since the epoch, for the demo's phase timings.
NOW_MS = $$(date +%s%3N)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install lock runtime test-deps demo test check-samples lint messages static browser bench clean-data fault-repeat docs citus-check

# The runtime dependencies only (no test or benchmark tools).
$(RUNTIME_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	$(PY) -c 'import django, celery, insightface, cv2, honcho'
	touch $@

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(DOCS_STAMP): $(RUNTIME_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $@

runtime: $(RUNTIME_STAMP)
test-deps: $(TEST_STAMP)

# What an operator runs in a checkout (see docs/operations.md): the runtime
# dependencies at the versions and hashes of requirements.lock (pip refuses
# any file whose hash differs), compiled translations, collected static files.
LOCKED_STAMP := $(VENV)/.locked-stamp
$(LOCKED_STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -c 'import django, celery, insightface, cv2, honcho'
	touch $@ $(RUNTIME_STAMP)

install: $(LOCKED_STAMP)
	$(MAKE) --no-print-directory messages static

# requirements.lock again from pyproject.toml's ranges (needs PyPI).
lock: test-deps
	$(PY) -m pip install --quiet --disable-pip-version-check pip-tools
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	  --no-emit-find-links --output-file=requirements.lock pyproject.toml

messages: runtime
	$(PY) -m portal.compile_translations

# collectstatic reads the settings, which start the embedded database when
# DATABASE_URL is unset: stop it again unless something else uses it.
static: runtime
	DEBUG=$(DEBUG) $(PY) manage.py collectstatic --noinput -v 0
	@if [ -z "$$DATABASE_URL" ]; then DEBUG=$(DEBUG) $(PY) manage.py embedded_db stop-if-idle >/dev/null; fi

# What the tests need from Debian (never a downloaded browser or server):
# Chromium and axe-core for the end-to-end tests, nginx and openssl for the
# test of the deploy/ proxy configuration.
browser:
	(command -v chromium && (command -v nginx || test -x /usr/sbin/nginx) && \
	  command -v openssl) >/dev/null || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
	  -y -qq chromium nginx openssl >/dev/null)
	test -f node_modules/axe-core/axe.min.js || npm ci --no-audit --no-fund --silent

DEMO_DPO ?= dpo@localhost
DEMO_DPO_PASSWORD ?= demo-dpo-password-2026

# Each phase prints its name and the time it took; the demo itself runs the
# Procfile with honcho (Ctrl-C stops it and the embedded database).
demo:
	@echo "==> install: Python packages into $(VENV) (the first run takes a few minutes)"
	@start=$(NOW_MS); $(MAKE) --no-print-directory -s runtime messages && \
	  awk "BEGIN { printf \"    install: %.1f s\\n\", ($(NOW_MS) - $$start) / 1000 }"
	@DEBUG=$(DEBUG) DPO_PASSWORD='$(DEMO_DPO_PASSWORD)' $(PY) manage.py rundemo \
	  --setup --dpo $(DEMO_DPO)

lint: test-deps
	$(VENV)/bin/ruff check .
	$(PY) tests/lint_waiting.py
	$(VENV)/bin/bandit --quiet --recursive portal subjects search --exclude '*/migrations/*'

# The tests read labelled photos of real people from FACE_SAMPLES_DIR
# (default ../shared/faces), never from the repository: without them, one
# sentence and a stop before anything else runs.
check-samples:
	@$(PY) -m portal.samples

# The documentation site (mkdocs.yml, from docs/) into build/site, strictly:
# a broken link or anchor, or a page left out of the navigation, fails it.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test: test-deps check-samples messages lint browser docs
	$(VENV)/bin/pytest

# Benchmarks on a database of their own (bench_portal); most of the time goes
# into HNSW builds over a million faces (docs/benchmarks.md gives measured
# times). Writes bench/results/*.json, docs/performance.md and docs/scaling.md.
bench: runtime
	$(PY) -m pip install --quiet -e '.[bench]'
	DEBUG=$(DEBUG) $(PY) -m bench.run

# The shipped paths on an existing Citus cluster against one node: builds and
# starts nothing (docs/scaling.md, Running on Citus). CITUS_URL names a
# database of the check's own on the coordinator; it is emptied first.
citus-check: runtime
	@test -n "$(CITUS_URL)" || { echo "make citus-check CITUS_URL=postgresql://user@host:port/database (docs/scaling.md)"; exit 2; }
	CITUS_URL='$(CITUS_URL)' $(PY) -m bench.citus_check

clean-data:
	-$(PY) manage.py embedded_db stop
	rm -rf var

# The fault tests (the fault matrix, the broker restart) ten times in a row;
# stops at the first run that fails. REPEAT=n for another count.
REPEAT ?= 10
FAULT_TESTS := tests/portal/test_fault_matrix.py tests/portal/test_faults.py
fault-repeat: test-deps check-samples messages
	@for n in $$(seq 1 $(REPEAT)); do \
	  $(VENV)/bin/pytest -q -p no:cacheprovider $(FAULT_TESTS) \
	    || { echo "fault tests: run $$n of $(REPEAT) failed"; exit 1; }; \
	  echo "fault tests: run $$n of $(REPEAT) passed"; \
	done
