# Two commands for a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run chat test lint setup

$(BIN)/netanswer-bot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/netanswer-bot

# The web chat on the embedded default (SQLite, sandbox issuer), on this machine only.
run: setup
	$(BIN)/netanswer-bot serve --host 127.0.0.1 --port $(PORT)

chat: setup
	$(BIN)/netanswer-bot chat

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -n 2
