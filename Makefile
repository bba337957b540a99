# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamps record which requirements the venv was built from, so edits reinstall.
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
PORT ?= 8501

.PHONY: run test test-fast train evaluate samples bench clean-venv

$(RUNTIME): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV): requirements-dev.txt $(RUNTIME)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(RUNTIME)  ## start the dashboard with the committed weights and sample videos
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: $(DEV)  ## the whole suite, browser tests included
	$(PY) -m pytest

test-fast: $(DEV)  ## everything but the slow and browser tests
	$(PY) -m pytest -m "not slow and not browser"

train: $(RUNTIME)  ## train the default detector on ../shared/data (resumable; ~1 h on 2 cores, under the 2 h budget)
	$(PY) -m dfcore train --data ../shared/data

evaluate: $(RUNTIME)  ## reproduce the model card's metrics on the validation split
	$(PY) -m dfcore card --data ../shared/data

samples: $(RUNTIME)  ## regenerate sample_videos/ from the packaged public-domain photo
	$(PY) -m dfcore samples --out sample_videos

bench: $(RUNTIME)  ## per-stage timings at 10-100 frames vs the seed design, the slider, 4K clips; the speed targets (~3 min on 2 cores, +6 min the first time to make the 4K clips)
	$(PY) -m dfcore bench

clean-venv:
	rm -rf $(VENV)
