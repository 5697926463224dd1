# Every target sets up what it needs by itself, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ns6g-installed

.PHONY: setup build demo test bench clean

setup: $(STAMP)

# torch first, pinned: the CPU build lies on these machines' disks; an unpinned torch would pull CUDA.
$(STAMP): pyproject.toml setup.py ns6g/_shmsync.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

build: setup
	$(BIN)/ns6g build

demo: build
	$(BIN)/ns6g demo

test: build
	$(BIN)/python -m pytest -q

bench: build
	$(BIN)/ns6g bench bridge
	$(BIN)/ns6g bench reset
	$(BIN)/ns6g bench parallel
	$(BIN)/ns6g bench trace
	$(BIN)/ns6g bench load
	$(BIN)/ns6g bench ran
	$(BIN)/ns6g bench split
	$(BIN)/ns6g bench fl
	$(BIN)/ns6g bench suite --baseline ns6g/suites/default-baseline.json

clean:
	rm -rf build dist *.egg-info ns6g/*.so
