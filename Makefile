# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEBUG ?= 1

.PHONY: install demo test lint messages bench clean-data

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

messages: install
	$(PY) -m portal.compile_translations

demo: install messages
	DEBUG=$(DEBUG) $(PY) manage.py migrate --noinput -v 0
	DEBUG=$(DEBUG) $(PY) manage.py collectstatic --noinput -v 0
	DEBUG=$(DEBUG) $(PY) manage.py seed_demo
	DEBUG=$(DEBUG) $(PY) manage.py rundemo

lint: install
	$(VENV)/bin/ruff check .

test: install messages lint
	$(VENV)/bin/pytest

clean-data:
	-$(PY) manage.py embedded_db stop
	rm -rf var
