# Two commands: `make demo` and `make test`. Each sets up (or refreshes) .venv from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: demo test test-min check lint bench clean venv locale

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# GDAL's GeoPackage validator (pure Python; --no-deps: it needs no GDAL bindings to validate)
	$(BIN)/python -m pip install --quiet --no-deps 'gdal-utils>=3.8'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/ort-geo demo --out $(OUT)

test: check
	$(BIN)/python -m pytest -q

# Static checks, fast: run before every landing (ruff, then mypy on ort_geo/ and api/ as
# configured in pyproject.toml).
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The declared lower bounds, checked: every dependency and extra pinned to the minimum
# pyproject.toml allows (tools/min_constraints.py), PyPI wheels only, in a venv of its own; then
# the tests of what the dependencies do (I/O, statistics, both store backends, API, atlas) — CI
# runs this after `make test`; `make test-min MIN_TESTS=tests` runs the whole suite.
MIN_VENV  ?= .venv-min
MIN_STAMP := $(MIN_VENV)/.installed
MIN_TESTS ?= tests/test_store.py tests/test_backends.py tests/test_io_export.py \
	tests/test_io_import.py tests/test_importers.py tests/test_interop_files.py tests/test_stats.py \
	tests/test_secrecy.py tests/test_atlas.py tests/web_api/test_api_ogc.py \
	tests/web_api/test_api_standards.py tests/web_api/test_api_domain.py \
	tests/web_api/test_api_editing.py
$(MIN_STAMP): pyproject.toml tools/min_constraints.py
	test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) tools/min_constraints.py postgis pdf browser dev > $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/python -m pip install --quiet --only-binary :all: \
		-c $(MIN_VENV)/constraints.txt -e '.[dev]'
	$(MIN_VENV)/bin/python -m pip install --quiet --no-deps 'gdal-utils>=3.8'
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider $(MIN_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# National-scale benchmarks; e.g. `make bench BENCH_ARGS="--buildings 1000000"` for a quick run.
BENCH_ARGS ?= --buildings 1000000 20000000
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OUT)

# click's words in French: compile the CLI's catalogue after editing the .po (needs GNU gettext's
# msgfmt; the .mo is committed, tests/test_cli_french.py checks it matches the .po).
LOCALE_PO := ort_geo/cli/locale/fr/LC_MESSAGES/ort_geo.po
locale:
	msgfmt --check-format -o $(LOCALE_PO:.po=.mo) $(LOCALE_PO)
