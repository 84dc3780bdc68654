# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# make test runs the suite on SQLite, then again on PostgreSQL when one answers here.
POSTGRES_URL ?= postgresql://127.0.0.1:5432/test

.PHONY: run test check fmt bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hotline db upgrade
	$(BIN)/hotline customers import config/demo/customers.csv
	$(BIN)/hotline user import config/demo/staff.csv
	$(BIN)/hotline roster import config/demo/roster.toml
	$(BIN)/hotline serve --with-worker --workers 2 --host $(HOST) --port $(PORT)

test: $(STAMP)
	env -u HOTLINE_TEST_POSTGRES_URL $(BIN)/pytest -q -p no:cacheprovider --cov --cov-report=
	@echo "== branch coverage: $$($(BIN)/coverage report --format=total)%"
	@if [ -n "$$HOTLINE_TEST_POSTGRES_URL" ]; then pg="$$HOTLINE_TEST_POSTGRES_URL"; \
	elif $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(POSTGRES_URL)', connect_timeout=3).close()" 2>/dev/null; then pg="$(POSTGRES_URL)"; \
	else pg=""; fi; \
	if [ -n "$$pg" ]; then echo "== again on PostgreSQL ($$pg)"; \
	  HOTLINE_TEST_POSTGRES_URL="$$pg" $(BIN)/pytest -q -p no:cacheprovider; \
	else echo "== PostgreSQL not reachable at $(POSTGRES_URL): SQLite only"; fi

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.worker
	$(BIN)/python -m bench.claims
	$(BIN)/python -m bench.agent_ring
	$(BIN)/python -m bench.escalation_ring

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
