# Every target sets up what it needs by itself, so a fresh clone needs only `make demo` or `make test`.
# The environment comes from the lock of the running Python's version, requirements/py3XX.txt (exact
# versions of every package); `make lock` regenerates the locks, `make test-latest` tries the newest
# versions pyproject.toml allows in a separate venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ns6g-installed
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d%d" % sys.version_info[:2])')
LOCK   := requirements/py$(PYVER).txt
SYNCED := $(VENV)/.lock-py$(PYVER)
TORCH  := 2.13.0
UV_VERSION := 0.13.9
UV     := .venv-uv/bin/uv
LATEST := .venv-latest

.PHONY: setup venv-from-lock build options demo test lint-imports bench lock test-latest clean

setup: $(STAMP)

$(LOCK):
	@echo "no lock for Python $(PYVER) ($(PYTHON)): requirements/ has $(notdir $(wildcard requirements/py3*.txt))" >&2
	@exit 1

# The locked packages, exactly. The stamp holds the lock's pins: when they change, the venv is rebuilt from
# scratch so that nothing the lock no longer names remains; a change to its comments only renews the stamp.
$(SYNCED): $(LOCK)
	@if grep -v '^ *#' $(LOCK) | cmp -s - $@; then touch $@; else $(MAKE) --no-print-directory venv-from-lock; fi

# pip first (the lock's pip has --build-constraint); the few sdists (cppyy's family) build with their build
# requirements held to the lock's versions, except cppyy's own family: their sdists pin older releases of
# each other for the build (cppyy-backend 1.15.3 builds with cppyy-cling==6.30.0, CPyCppyy 1.13.0 with
# cppyy-backend==1.15.2) and the lock's to run, so holding those to the lock makes a fresh install
# impossible (a pip cache holding their built wheels hides it). Their exact pins keep the build repeatable.
BUILD_CONSTRAINTS := $(VENV)/build-constraints.txt
venv-from-lock:
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	grep -vE '^(cppyy-cling|cppyy-backend|cpycppyy)==' $(LOCK) > $(BUILD_CONSTRAINTS)
	$(BIN)/python -m pip install -q "$$(grep -E '^pip==' $(LOCK))"
	$(BIN)/python -m pip install -q --no-deps --build-constraint $(BUILD_CONSTRAINTS) -r $(LOCK)
	grep -v '^ *#' $(LOCK) > $(SYNCED)

# ns6g itself, editable, built with the lock's setuptools and wheel (no isolated build, nothing unpinned).
$(STAMP): $(SYNCED) pyproject.toml setup.py ns6g/_shmsync.c
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $@

build: setup
	$(BIN)/ns6g build

# Rewrite the files generated from the config classes (ns3_scenarios/options/*.h, docs/options.md).
options: setup
	$(BIN)/python -m ns6g.core.options_cpp --write

demo: build
	$(BIN)/ns6g demo

test: build lint-imports
	$(BIN)/python -m pytest -q

# The layer rule of .importlinter (docs/architecture.md, "Python package layers"), checked by import-linter.
# It reads packages from folders, so it runs on a copy of the .py files in the installed layout (envs/ as
# ns6g/envs, ...; pyproject.toml's package-dir).
IMPORT_LAYOUT := build/import-layout
lint-imports: setup
	rm -rf $(IMPORT_LAYOUT)
	$(BIN)/python -c 'import shutil, tomllib; \
		dirs = tomllib.load(open("pyproject.toml", "rb"))["tool"]["setuptools"]["package-dir"]; \
		only_py = lambda d, names: [n for n in names if not n.endswith(".py") and not (shutil.os.path.isdir(f"{d}/{n}") and n != "__pycache__")]; \
		[shutil.copytree(src, "$(IMPORT_LAYOUT)/" + pkg.replace(".", "/"), ignore=only_py, dirs_exist_ok=True) for pkg, src in sorted(dirs.items())]'
	cd $(IMPORT_LAYOUT) && PYTHONPATH=. $(CURDIR)/$(BIN)/lint-imports --config $(CURDIR)/.importlinter

# Regenerate requirements/py3XX.txt (keeping pins pyproject.toml still allows; UPGRADE=1 for the newest).
lock: $(UV)
	UV=$(UV) TORCH=$(TORCH) PYTHON=$(PYTHON) requirements/lock.sh

$(UV):
	$(PYTHON) -m venv .venv-uv
	.venv-uv/bin/python -m pip install -q uv==$(UV_VERSION)

# The newest versions pyproject.toml allows (torch held at TORCH: a newer one from PyPI is the CUDA
# build), upgraded on every run so that drift shows here before users see it. PYTEST_ARGS picks tests.
test-latest:
	@test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	echo "torch==$(TORCH)" > $(LATEST)/torch-constraint.txt
	$(LATEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager \
		-c $(LATEST)/torch-constraint.txt -e '.[test]'
	$(LATEST)/bin/python -m pip check
	$(LATEST)/bin/python -m pip list --format=freeze | grep -iE '^(torch|transformers|peft|gymnasium|stable.baselines3)=='
	$(LATEST)/bin/ns6g build
	$(LATEST)/bin/python -m pytest -q $(PYTEST_ARGS)

bench: build
	$(BIN)/ns6g bench bridge
	$(BIN)/ns6g bench reset
	$(BIN)/ns6g bench parallel
	$(BIN)/ns6g bench trace
	$(BIN)/ns6g bench load
	$(BIN)/ns6g bench ran
	$(BIN)/ns6g bench split
	$(BIN)/ns6g bench fl
	$(BIN)/ns6g bench soak
	$(BIN)/ns6g bench suite --baseline ns6g/apps/suites/default-baseline.json

clean:
	rm -rf build dist *.egg-info ns6g/*.so
