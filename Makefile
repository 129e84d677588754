# lakehouse: every command a newcomer or CI needs. Only Python and pip are assumed;
# uv is bootstrapped into .tools/ when it is not on PATH, then uv builds .venv from uv.lock.

SHELL := /bin/bash
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export LAKEHOUSE_HOME ?= $(CURDIR)/.lakehouse
PYTEST_ARGS ?=
DEV_ARGS ?=

.PHONY: install demo dev test lint fmt bench clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools && $(CURDIR)/.tools/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode  # the .pyc files too: PYTHONDONTWRITEBYTECODE may be set
	@touch $@

install: .venv/.synced  ## create .venv from uv.lock

demo: install  ## simulate the platform, materialise everything, carry new activity through with the sensors
	$(UV) run lakehouse demo

dev: install  ## the Dagster UI and daemon, sensors on (DEV_ARGS="--port 3001")
	$(UV) run lakehouse dev $(DEV_ARGS)

test: install  ## the whole test suite (pytest's "no tests collected" is not a failure)
	@$(UV) run pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

lint: install  ## ruff lint + format check + the layout's import contracts (pyproject.toml)
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports

fmt: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: install  ## benchmarks (BENCH_SCALE=0.1, BENCH_ARGS="--only sensor"); ends with one `name: value` line per figure
	$(UV) run python -m bench $(BENCH_ARGS)

.PHONY: emulators emulators-down
emulators: install  ## moto (S3/SQS/Glue) + Azurite (Blob/Queue) on loopback, in the background
	$(UV) run lakehouse emulators up
	@echo "source $(LAKEHOUSE_HOME)/emulators.env"

emulators-down: install  ## stop them; removes $(LAKEHOUSE_HOME)/emulators.env
	$(UV) run lakehouse emulators down

.PHONY: prod-local prod-local-down
prod-local: install  ## production topology here: PostgreSQL, RabbitMQ, emulators, webserver, daemon, 2 Celery workers
	$(UV) run lakehouse prod up

prod-local-down: install  ## stop it (and the emulators)
	$(UV) run lakehouse prod down

clean:  ## remove everything under LAKEHOUSE_HOME (default ./.lakehouse)
	@case "$(LAKEHOUSE_HOME)" in ""|/|"$$HOME") echo "refusing to remove LAKEHOUSE_HOME=$(LAKEHOUSE_HOME)"; exit 1;; esac
	rm -rf "$(LAKEHOUSE_HOME)"
