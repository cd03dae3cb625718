SHELL := /bin/bash
# yiyan — the two commands of the README:
#   make demo   install, then prepare → train (a few minutes, CPU) → translate → evaluate on the HSK corpus
#   make test   install, then lint (ruff), type-check (mypy) and run the tests (pytest)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_TIME ?= 4m

.PHONY: install demo test lint typecheck pytest clean system-deps
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo -n apt-get)
SYSTEM_PKGS := chromium fonts-wqy-microhei

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of torch (on this machine from local disk); any torch in the declared range works.
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || $(BIN)/python -m pip install --quiet "torch>=2.1,<2.15"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

DEMO_SENTENCES := I love you.\nHello, teacher!\nWhere is the train station?\nI want to drink some tea.\nThe weather is very nice today.\n

demo: install
	rm -rf runs/demo
	OMP_NUM_THREADS=2 $(BIN)/yiyan train configs/demo.yaml --max-time $(DEMO_TIME)
	printf '$(DEMO_SENTENCES)' > runs/demo/demo-input.txt
	@echo "translations (beam 5):"
	$(BIN)/yiyan translate runs/demo --beam 5 -i runs/demo/demo-input.txt | paste -d '\t' runs/demo/demo-input.txt -
	@echo "dev BLEU (beam 5, against the untouched references):"
	$(BIN)/yiyan evaluate runs/demo --src runs/demo/data/dev.en --ref runs/demo/data/dev.ref.zh --beam 5

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

# Headless Chromium for the browser test and a CJK font for heatmaps (Debian packages; never
# `playwright install`). Best effort: without them those tests skip with a clear reason.
system-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then :; else \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { $(APT_GET) install -y --no-install-recommends $(SYSTEM_PKGS) >/dev/null \
	    || { $(APT_GET) update >/dev/null && $(APT_GET) install -y --no-install-recommends $(SYSTEM_PKGS) >/dev/null; }; } \
	  || echo "warning: could not install $(SYSTEM_PKGS); the browser test will be skipped"; \
	fi

pytest: install system-deps
	OMP_NUM_THREADS=2 $(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
