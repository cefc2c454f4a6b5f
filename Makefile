# edgeclass — every target creates .venv first (make setup), so any target works on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EC := $(BIN)/edgeclass

# knobs (override on the command line: make train DATA=photos ARCH=resnet101 RECIPE=seed-resnet101)
DATA ?= datasets/digits
ARCH ?= resnet18
RECIPE ?= default
NAME ?=
RUN ?= $(shell ls -td runs/*/ 2>/dev/null | head -1)
MODEL ?=
SOURCE ?= 0
PRECISION ?= fp16
TRAIN_ARGS ?=
PYTEST_ARGS ?=
# MTCNN's weights ship in this wheel (MIT). --no-deps: it pins an old torch; only its data files are used.
FACENET_WHEEL ?= facenet-pytorch==2.6.0

.PHONY: setup face-models face-testdata test test-deps install-service docs demo train export calibrate engine jetson-check setup-jetson run eval bench clean help

help:
	@echo "make setup | test | docs | demo | train DATA=.. ARCH=.. RECIPE=.. | export RUN=.. | calibrate RUN=.."
	@echo "make engine RUN=.. PRECISION=fp16|int8 | jetson-check RUN=.. | setup-jetson | run MODEL=.. SOURCE=.. | bench RUN=.."
	@echo "make install-service (root: systemd unit + /etc/edgeclass/run.toml; DRY_RUN=1 prints what it would do)"

setup: $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[train,dev,docs,modelopt,serve]'
	$(BIN)/pip install -q --no-deps $(FACENET_WHEEL)
	$(BIN)/python -m edgeclass.tools.face_models convert mtcnn
	touch $@

# face-models: MTCNN ONNX into $$EDGECLASS_HOME/models (done by setup); FETCH=yunet downloads YuNet too
face-models: setup
	$(BIN)/python -m edgeclass.tools.face_models convert mtcnn
	$(if $(FETCH),$(BIN)/python -m edgeclass.tools.face_models fetch $(FETCH))

# face-testdata: the group photo of the insightface sdist (pip download) for the face tests and benchmark
face-testdata: setup
	$(BIN)/python -c "from edgeclass.tools.face_samples import group_photo_path; print(group_photo_path())"

# test: the suite, then the docs build (a broken link or anchor in docs/ fails `make test`, hence CI)
test: setup test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)
	$(DOCS_BUILD)
	$(DOCS_README)

# docs: docs/*.md -> site/ (MkDocs + Material, offline). mkdocs.yml's `strict: true` and `validation:`
# make every broken link, unknown anchor or page missing from the nav an error. Never add -q or -v:
# MkDocs 1.6 then stops counting warnings (-q) or checking anchors (-v), and a broken build passes.
# NO_MKDOCS_2_WARNING=1 silences Material's end-of-life banner, nothing else.
# README.md lies outside docs/, so MkDocs cannot check it: DOCS_README checks that every docs/ page it
# links to exists.
DOCS_BUILD = NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean --site-dir site
DOCS_README = @grep -o '](docs/[^)\#]*' README.md | cut -c3- | sort -u | while read -r f; do \
	test -f "$$f" || { echo "README.md links to $$f, which does not exist"; exit 1; }; done
docs: setup
	$(DOCS_BUILD)
	$(DOCS_README)

# Debian packages the tests drive for real (chromium + chromium-driver, mosquitto): apt-installed when
# missing and root, otherwise a one-line message. The browser test's screenshot goes to test-artifacts/.
test-deps:
	@bash .ci/test-deps.sh

# demo: digits dataset -> split -> short CPU training -> export -> INT8 -> live run on a video -> bench
DEMO_DATA := datasets/digits
DEMO_RUN := runs/demo
demo: setup
	$(EC) data demo $(DEMO_DATA)
	$(EC) data split $(DEMO_DATA) --seed 0
	$(EC) train $(DEMO_DATA) --arch simplecnn --recipe demo --name demo --exist-ok
	$(EC) export $(DEMO_RUN)
	$(EC) calibrate $(DEMO_RUN)
	$(EC) run $(DEMO_RUN)/weights/model.int8-cpu.onnx --demo-video $(DEMO_RUN) --out $(DEMO_RUN)/demo_run

train: setup
	$(EC) train $(DATA) --arch $(ARCH) --recipe $(RECIPE) $(if $(NAME),--name $(NAME)) $(TRAIN_ARGS)

export: setup
	$(EC) export $(RUN)

calibrate: setup
	$(EC) calibrate $(RUN)

# TensorRT targets. On a Jetson (/etc/nv_tegra_release exists) they set up the venv with
# setup-jetson, which never pip-installs torch or opencv over JetPack's CUDA builds.
TRT_SETUP := $(if $(wildcard /etc/nv_tegra_release),setup-jetson,setup)
ENGINE_ARGS ?=

engine: $(TRT_SETUP)
	$(EC) engine $(RUN) --precision $(PRECISION) $(ENGINE_ARGS)

# build fp16 + int8 engines (+ DLA ones where the device has DLA), show their layers, compare every
# output with ONNX Runtime on the test split, benchmark, print one report (JETSON_CHECK_ARGS="--out r.md")
JETSON_CHECK_ARGS ?=
jetson-check: $(TRT_SETUP)
	$(EC) jetson-check $(RUN) $(JETSON_CHECK_ARGS)

# Jetson (JetPack 6): TensorRT, CUDA, numpy, OpenCV and NVIDIA's PyTorch come from JetPack / apt, so the
# venv sees the system site-packages; pip adds edgeclass (--no-deps) and the pure-Python deps JetPack
# lacks. JETSON_EXTRAS are aarch64 wheels that replace nothing of JetPack (onnx to read model cards,
# onnxruntime for jetson-check's reference). Set JETSON_EXTRAS= to skip them.
# cuda-python (device memory without PyTorch) must have the CUDA major of the device: `auto` reads
# /usr/local/cuda/version.json (python -m edgeclass.engine.cuda_choice): CUDA 12.x (JetPack 6) gets
# 'cuda-python>=12.x,<13'; CUDA 11.4 (JetPack 5) gets none, engines then use NVIDIA's PyTorch wheel.
# JETSON_CUDA_PYTHON='cuda-python==12.6.0' picks one yourself, JETSON_CUDA_PYTHON=none skips it.
JETSON_EXTRAS ?= onnx onnxruntime
JETSON_CUDA_PYTHON ?= auto
setup-jetson: $(VENV)/.stamp-jetson

$(VENV)/.stamp-jetson: pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip install -q 'click>=8.0' 'tqdm>=4.60'
	$(if $(strip $(JETSON_EXTRAS)),$(BIN)/pip install -q $(JETSON_EXTRAS))
	@req='$(JETSON_CUDA_PYTHON)'; if [ "$$req" = auto ]; then req="$$($(BIN)/python -m edgeclass.engine.cuda_choice)"; fi; \
	if [ -n "$$req" ] && [ "$$req" != none ]; then echo "pip install $$req"; $(BIN)/pip install -q "$$req"; fi
	$(BIN)/python -c "import tensorrt, cv2, numpy; print('TensorRT', tensorrt.__version__, '| OpenCV', cv2.__version__, '| numpy', numpy.__version__)"
	touch $@

# run: live recognition; RUN_ARGS="--roi face --save out.mp4" (default --show; RUN_ARGS= for headless)
RUN_ARGS ?= --show
run: $(TRT_SETUP)
	$(EC) run $(if $(MODEL),$(MODEL),$(RUN)/weights/model.onnx) --source $(SOURCE) $(RUN_ARGS)

# eval: MODEL (default: the latest run's model.onnx) on the run's own test split; DATA=.. SPLIT=val EVAL_ARGS=..
eval: $(TRT_SETUP)
	$(EC) eval $(if $(MODEL),$(MODEL),$(RUN)/weights/model.onnx) $(if $(filter command line environment,$(origin DATA)),--data $(DATA)) $(if $(SPLIT),--split $(SPLIT)) $(EVAL_ARGS)

# bench: every artifact of runs/demo (or RUN=runs/x given explicitly; on a Jetson it uses setup-jetson
# like engine); BENCH_ARGS="--batch 64 --formats onnx,onnx-int8-cpu"
bench: $(TRT_SETUP)
	$(EC) bench $(if $(filter command line environment,$(origin RUN)),$(RUN),$(DEMO_RUN)) $(BENCH_ARGS)

# install-service: the systemd unit (deploy/edgeclass.service, ExecStart = this checkout's .venv) and
# /etc/edgeclass/run.toml from deploy/run.example.toml (never overwritten). Root only; DRY_RUN=1 prints
# every file it would write and every command it would run, and changes nothing.
install-service: setup
	@bash deploy/install-service.sh $(if $(DRY_RUN),--dry-run) --edgeclass "$(abspath $(EC))"

clean:
	rm -rf runs datasets .pytest_cache site
