SHELL := /bin/bash
# yiyan — the two commands of the README:
#   make demo   install, then pretrain on Tatoeba → fine-tune on HSK → translate → the fine-tune report
#               (about 6 minutes on 2 CPU cores)
#   make test   install, then lint (ruff), type-check (mypy) and run the tests (pytest)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The demo's budgets are update counts, not seconds, so the same seed gives the same model on any
# machine (and the same thread count gives the same numbers). The recipe and budgets were chosen by a
# search of 10 runs (docs/benchmarks.md, section 10); the figures of a fresh clone are there too.
DEMO_PRETRAIN_STEPS ?= 2200
DEMO_FINETUNE_STEPS ?= 1400
DEMO_SEED ?= 1

.PHONY: install demo test lint typecheck pytest clean system-deps
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo -n apt-get)
SYSTEM_PKGS := chromium fonts-wqy-microhei

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of torch (on this machine from local disk); any torch in the declared range works.
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || $(BIN)/python -m pip install --quiet "torch>=2.3,<2.15"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

DEMO_SENTENCES := I love you.\nHello, teacher!\nWhere is the train station?\nI want to drink some tea.\nThe weather is very nice today.\n

demo: install
	rm -rf runs/demo runs/demo-hsk
	@echo "== 1/3 pretraining on Tatoeba ($(DEMO_PRETRAIN_STEPS) updates; the corpus is fetched once into ~/.cache/yiyan)"
	OMP_NUM_THREADS=2 $(BIN)/yiyan train configs/demo.yaml --quiet --max-steps $(DEMO_PRETRAIN_STEPS) \
	    --set training.seed=$(DEMO_SEED)
	@echo "== 2/3 fine-tuning on HSK ($(DEMO_FINETUNE_STEPS) updates, 20 % Tatoeba pairs in every batch)"
	OMP_NUM_THREADS=2 $(BIN)/yiyan finetune runs/demo configs/demo-finetune.yaml --quiet \
	    --set training.max_steps=$(DEMO_FINETUNE_STEPS) --set training.seed=$(DEMO_SEED) > /dev/null
	printf '$(DEMO_SENTENCES)' > runs/demo-hsk/demo-input.txt
	@echo "== 3/3 translations (beam 5) by the fine-tuned model:"
	@OMP_NUM_THREADS=2 $(BIN)/yiyan translate runs/demo-hsk --beam 5 -i runs/demo-hsk/demo-input.txt \
	    | paste -d '\t' runs/demo-hsk/demo-input.txt -
	@echo
	@cat runs/demo-hsk/finetune_report.md

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

# Headless Chromium for the browser test and a CJK font for heatmaps (Debian packages; never
# `playwright install`). Without them those tests skip with a clear reason; with CI=true this step
# fails instead (and so would the skips: tests/ci_skips.py).
system-deps:
	@have() { command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; }; \
	if ! have; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(APT_GET) install -y --no-install-recommends $(SYSTEM_PKGS) >/dev/null 2>&1 \
	    || { $(APT_GET) update >/dev/null 2>&1 \
	         && $(APT_GET) install -y --no-install-recommends $(SYSTEM_PKGS) >/dev/null 2>&1; }; \
	fi; \
	if ! have; then \
	  if [ "$$CI" = true ]; then \
	    echo "error: could not install $(SYSTEM_PKGS); with CI=true the browser and CJK-font tests must run" >&2; \
	    exit 1; \
	  fi; \
	  echo "warning: could not install $(SYSTEM_PKGS); the browser and CJK-font tests will be skipped"; \
	fi

pytest: install system-deps
	OMP_NUM_THREADS=2 $(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .mypy_cache .ruff_cache
