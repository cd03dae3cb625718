SHELL := /bin/bash
# yiyan — the two commands of the README:
#   make demo   install, then prepare → train (a few minutes, CPU) → translate → evaluate on the HSK corpus
#   make test   install, then lint (ruff), type-check (mypy) and run the tests (pytest)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_TIME ?= 4m

.PHONY: install demo test lint typecheck pytest clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of torch (on this machine from local disk); any torch in the declared range works.
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || $(BIN)/python -m pip install --quiet "torch>=2.1,<2.15"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	OMP_NUM_THREADS=2 $(BIN)/yiyan train configs/demo.yaml --max-time $(DEMO_TIME)
	printf 'I love you.\nHello, teacher!\nWhere is the train station?\nI want to drink some tea.\nThe weather is very nice today.\n' \
		| $(BIN)/yiyan translate runs/demo --beam 5 | paste -d '\t' <(printf 'I love you.\nHello, teacher!\nWhere is the train station?\nI want to drink some tea.\nThe weather is very nice today.\n') -
	$(BIN)/yiyan evaluate runs/demo --src runs/demo/data/test.en --ref runs/demo/data/test.ref.zh --beam 5

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install
	OMP_NUM_THREADS=2 $(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
