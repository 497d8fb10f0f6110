# optirollup — everything a fresh machine needs comes from here.
#   make demo   the main job (installs first if needed)
#   make test   the whole suite (installs first if needed)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ANVIL := node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: install demo test test-long test-steps-long bench bench-node bench-dispute gas-doc lint vectors clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install
	$(VENV)/bin/optirollup demo

# CI sample: lint and types first, then the suite with hypothesis's "ci" profile
# (100 examples per property; tests marked slow are left to test-long).
test: install lint
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -q -m "not slow" -n 2

# The long version: slow-marked tests included, hypothesis "long" profile (10,000+ examples).
test-long: install
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -n 2

# The long run of the on-chain step property alone: 10,000 random states and batches, every
# transaction proven through the step runner on anvil (about 25 minutes on 2 cores).
test-steps-long: install
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -n 2 --hypothesis-show-statistics \
		tests/contracts/test_steps_property.py

bench: install
	$(PY) bench/stf_throughput.py

# The node: ack latency in process and over HTTP, fills/s into batches posted on anvil.
bench-node: install
	$(PY) bench/node_throughput.py

# Whole disputes (n = 10, 1,000, 10,000 txs; k = 2..16) and the challenger's replay rate beside
# the node's sequencing rate; rewrites docs/dispute.md (about 3 minutes; --quick: n <= 1,000).
bench-dispute: install
	$(PY) bench/dispute.py --write-doc

# Regenerate docs/gas.md on a fresh anvil (deterministic: fixed genesis time, 12 s blocks).
gas-doc: install
	$(PY) bench/gas.py

vectors: install
	$(PY) tests/vectors/generate.py

lint: install
	$(VENV)/bin/ruff check optirollup challenger tests bench
	$(VENV)/bin/ruff format --check --quiet optirollup challenger tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) node_modules .build .pytest_cache .hypothesis
