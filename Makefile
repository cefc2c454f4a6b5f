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

.PHONY: setup test demo train export calibrate engine jetson-check run eval bench clean help

help:
	@echo "make setup | test | demo | train DATA=.. ARCH=.. RECIPE=.. | export RUN=.. | calibrate RUN=.."
	@echo "make engine RUN=.. PRECISION=fp16|int8 | jetson-check RUN=.. | run MODEL=.. SOURCE=.. | bench RUN=.."

setup: $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[train,dev]'
	touch $@

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# demo: digits dataset -> split -> short CPU training -> export -> INT8 -> live run on a video -> bench
DEMO_DATA := datasets/digits
DEMO_RUN := runs/demo
demo: setup
	$(EC) data demo $(DEMO_DATA)
	$(EC) data split $(DEMO_DATA) --seed 0
	$(EC) train $(DEMO_DATA) --arch simplecnn --recipe demo --name demo --exist-ok
	$(EC) export $(DEMO_RUN)
	$(EC) calibrate $(DEMO_RUN)
	$(EC) run $(DEMO_RUN)/weights/model.int8-cpu.onnx --demo-video $(DEMO_DATA) --out $(DEMO_RUN)/demo_run

train: setup
	$(EC) train $(DATA) --arch $(ARCH) --recipe $(RECIPE) $(if $(NAME),--name $(NAME)) $(TRAIN_ARGS)

export: setup
	$(EC) export $(RUN)

calibrate: setup
	$(EC) calibrate $(RUN)

engine: setup
	$(EC) engine $(RUN) --precision $(PRECISION)

jetson-check: setup
	$(BIN)/python tools/jetson_check.py $(RUN)

run: setup
	$(EC) run $(if $(MODEL),$(MODEL),$(RUN)/weights/model.onnx) --source $(SOURCE) --show

eval: setup
	$(EC) eval $(if $(MODEL),$(MODEL),$(RUN)/weights/model.onnx) --data $(DATA)

bench: setup
	$(EC) bench $(if $(RUN),$(RUN),$(DEMO_RUN))

clean:
	rm -rf runs datasets .pytest_cache
