# seq2pheno: `make run` sets up .venv and runs the default workflow; `make test` sets up and tests.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: install run test test-slurm lint clean

install: $(STAMP)

# Idempotent: reinstalls only when requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip==26.3
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not slurm" tests

# Runs the tiny workflow through a real local Slurm (root: installs and starts munge, slurmctld, slurmd).
test-slurm: $(STAMP)
	bash tests/slurm/start.sh
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m slurm tests/test_slurm.py

lint: $(STAMP)
	$(VENV)/bin/snakemake --lint

clean:
	rm -rf results .snakemake
