# The two commands: `make demo` (the main job) and `make test` (lint + the whole test suite).
# `make test` lints first: ruff, ruff format, and the import contracts of pyproject.toml.
# Both build what they need on a fresh machine: the virtualenv, the package, the Debian tools the
# tests use, and (through `streamscore kafka up` / the test fixture) the Apache Kafka broker.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APT    := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: demo test lint unit schemas tools venv clean

demo: venv tools
	$(BIN)/streamscore demo

test: venv tools
	$(BIN)/ruff check streams kernels models schemas tests
	$(BIN)/ruff format --check streams kernels models schemas tests
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest -m "not kafka"

lint: venv
	$(BIN)/ruff check streams kernels models schemas tests
	$(BIN)/ruff format --check streams kernels models schemas tests
	$(BIN)/lint-imports --no-cache --no-logo

schemas: tools
	bash schemas/regen.sh

venv: $(STAMP)

# uv (from PyPI, into the venv) installs the same ranges in about half pip's time on a fresh
# machine (TensorFlow, pyspark, ...); pip does it when uv cannot be installed or fails.
# --compile-bytecode: write the installed packages' .pyc files once, as pip does by default and
# uv does not. Without them every process compiles what it imports from source, every time,
# wherever PYTHONDONTWRITEBYTECODE is set (as on these build machines): `import tensorflow` then
# costs 13.9 CPU-s instead of 6.3, and a worker's imports 4.4 instead of 1.6. The editable
# install leaves streamscore's own modules uncompiled: compileall writes theirs (0.1-0.2 CPU-s
# in each of the hundreds of processes a test run starts).
#
# The uv cache is the repository's own (.cache/uv, ignored by git), pruned after the install to
# the wheels uv built from source (pyspark's, 0.44 GiB): it keeps pyspark's 20 CPU-s build for a
# later reinstall and drops the 1.4 GiB of unpacked sources beside it. The downloaded wheels it
# drops are hard links to the virtualenv's files and cost no space. A CI run failed once on a
# machine left with 149 MiB free. Measured on a clean clone: the install peaks at 5.0 GiB and
# then keeps 3.5 GiB (the virtualenv 3.0, the cache 0.47) instead of 4.9; a test run adds 0.8.
UV_CACHE := $(CURDIR)/.cache/uv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	{ $(BIN)/python -m pip install --quiet 'uv>=0.5,<1' && \
	  $(BIN)/uv pip install --quiet --cache-dir $(UV_CACHE) --compile-bytecode \
	    --python $(BIN)/python -e '.[dev]'; } || \
	{ echo "uv failed: installing with pip"; \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet --no-cache-dir -e '.[dev]'; }
	-test ! -x $(BIN)/uv || $(BIN)/uv cache prune --quiet --ci --cache-dir $(UV_CACHE)
	$(BIN)/python -m compileall -q streams kernels models schemas
	touch $(STAMP)

# Debian tools: kcat (an independent Kafka client), flatc (decodes our FlatBuffers), the
# FlatBuffers C++ headers and g++ (the official Verifier checks our buffers in a test), the
# Java 17+ runtime and Maven that fetch and run the Kafka broker, and headless Chromium with its
# WebDriver (the GUI's browser test; Selenium is pointed at them and downloads nothing).
tools:
	@missing=""; \
	command -v kcat  >/dev/null || missing="$$missing kcat"; \
	command -v flatc >/dev/null || missing="$$missing flatbuffers-compiler"; \
	[ -f /usr/include/flatbuffers/flatbuffers.h ] || missing="$$missing libflatbuffers-dev"; \
	command -v g++   >/dev/null || missing="$$missing g++"; \
	command -v java  >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn   >/dev/null || missing="$$missing maven"; \
	command -v chromium     >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq $$missing; \
	fi

clean:
	-$(BIN)/streamscore kafka down
	rm -rf var
