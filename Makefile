# safeguard-hotspots: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow test-all lock wheel clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "Error: Python 3.11 is needed ($(PYTHON) is not); run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: install
	$(BIN)/hotspots demo

# Default suite: everything except tests marked slow (target: under 4 minutes on 2 idle cores; single
# tests longer than ~20 s, and the benchmark suite's toy run, are marked slow and run by `make test-slow`,
# which CI runs too; privacy and security tests stay in the default run).
# One BLAS thread per test worker: two workers on two cores, no oversubscription (synthetic control's
# optimiser ran ~20x slower with default threading on a loaded 2-core machine).
# --dist worksteal: each worker starts on half the tests and an idle one takes over half of the other's
# remaining tests, so both finish together (the modules with the longest steps run first: RUN_FIRST in
# tests/conftest.py).
BLAS1 := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

test: install
	$(BLAS1) $(BIN)/python -m pytest -m "not slow" -n 2 --dist worksteal -q

test-slow: install
	$(BLAS1) $(BIN)/python -m pytest -m "slow" -q

test-all: test test-slow

# Refresh the pinned lock from the current environment (after changing pyproject.toml).
lock:
	$(BIN)/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^safeguard-hotspots' > requirements.lock

wheel: install
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .

clean:
	rm -rf $(VENV) dist build demo .pytest_cache
