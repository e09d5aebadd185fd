# Every target creates and uses .venv by itself: a new machine needs only a Python >= 3.12.
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test lint format bench constraints clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Runs the product on embedded defaults: SQLite under var/, tasks in-process, the local
# PKB sandbox, console email. Open http://$(HOST):$(PORT)/ and log in as a demo user
# (password only: the demo turns two-factor login off). The demo's commands are devtools'.
demo: export RMS_DEVTOOLS := true
demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo --url http://$(HOST):$(PORT)/
	$(PY) manage.py demo_plans
	$(PY) manage.py demo_care
	$(PY) manage.py demo_patient_data
	RMS_REQUIRE_2FA=false $(PY) manage.py demo --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(PY) scripts/check_view_reads.py
	$(PY) manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(PY) bench/run_all.py $(BENCH_ARGS)

# Re-pin the whole dependency tree after changing pyproject.toml.
constraints:
	rm -rf /tmp/rms-constraints && "$$(scripts/find-python)" -m venv /tmp/rms-constraints
	/tmp/rms-constraints/bin/pip install --quiet --upgrade pip
	/tmp/rms-constraints/bin/pip install --quiet -e '.[dev]'
	/tmp/rms-constraints/bin/pip freeze --exclude-editable | sort > requirements/constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
