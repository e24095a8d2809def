# seq2pheno: `make run` sets up .venv and runs the default workflow; `make test` sets up and tests.
PYTHON ?= python3
VENV   := .venv
CORES  ?= all
# GPU=1: install requirements-gpu.txt (Keras on JAX with CUDA 12) instead of requirements.txt.
GPU    ?= 0
ifeq ($(GPU),1)
REQUIREMENTS := requirements-gpu.txt
STAMP        := $(VENV)/.installed-gpu
else
REQUIREMENTS := requirements.txt
STAMP        := $(VENV)/.installed
endif
# System tools (not pip packages): installed with apt-get when root, else named (scripts/ensure_tools.sh).
TOOLS_RUN  := bgzip tabix
TOOLS_TEST := plink2 bcftools bgzip tabix

.PHONY: install run test test-slurm lint clean

install: $(STAMP)
	@bash scripts/ensure_tools.sh $(TOOLS_RUN)

# Idempotent: reinstalls only when the requirements file or pyproject.toml change.
$(STAMP): $(REQUIREMENTS) pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip==26.3
	$(VENV)/bin/python -m pip install --quiet -r $(REQUIREMENTS)
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP)
	@bash scripts/ensure_tools.sh $(TOOLS_TEST)
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not slurm" tests

# Runs the tiny workflow through a real local Slurm (root: installs and starts munge, slurmctld, slurmd).
test-slurm: $(STAMP)
	bash tests/slurm/start.sh
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m slurm tests/test_slurm.py

# Static checks, as the Snakemake catalog's CI runs them: the workflow linter on both demo
# configs, snakefmt on the rules and ruff on the Python (pinned in requirements-lint.txt).
lint: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -r requirements-lint.txt
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakemake --lint --configfile config/genotypes.yaml
	$(VENV)/bin/snakefmt --check Snakefile rules/
	$(VENV)/bin/ruff check seq2pheno scripts tests benchmarks envs

clean:
	rm -rf results .snakemake
