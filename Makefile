# revgnn_edu: `make lab` opens the tutorials; `make test` runs the lint, the unit tests and
# nbval on every notebook (CI runs it; test-portable, test-browser, bench and gpu-check are
# separate targets). The targets that run Python set up .venv first (idempotent: quick when
# nothing changed).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.revgnn_edu-installed
NB     ?= [0-9]*.ipynb
# JupyterLab refuses to run as root unless told to (containers often run as root)
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_NOTEBOOKS := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg
# Another machine's rounding, reproduced here: generic ATen kernels, MKL's reproducible mode
PORTABLE_ENV := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE

.PHONY: setup lab lint format test unit nbtest test-portable test-browser notebooks bench gpu-check bench-data clean help

help:
	@echo "make lab        set up .venv and open the tutorials in JupyterLab"
	@echo "make test       set up .venv, lint, run the unit tests and nbval on every notebook"
	@echo "make lint       ruff: lint and format check (make format rewrites the files)"
	@echo "make test-portable  nbval on every notebook under another machine's rounding"
	@echo "make test-browser   open the notebooks in JupyterLab in headless Chromium"
	@echo "make notebooks  re-execute every notebook in place (NB=02_*.ipynb for one)"
	@echo "make bench      run the benchmarks and write benchmarks/results/"
	@echo "make gpu-check  every GPU measurement in one command (needs CUDA; ~8 min)"
	@echo "make bench-data the ogbn-proteins loader at full size (long: writes 40M-edge csv.gz files)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name revgnn_edu --display-name "Python (revgnn_edu)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(LAB_ARGS)

# ruff's settings live in pyproject.toml; the notebooks are not formatted
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup lint
	$(PY) -m pytest tests notebooks $(PYTEST_NOTEBOOKS)

unit: setup
	$(PY) -m pytest tests

nbtest: setup
	$(PY) -m pytest notebooks $(PYTEST_NOTEBOOKS)

test-portable: setup
	$(PORTABLE_ENV) $(PY) -m pytest notebooks $(PYTEST_NOTEBOOKS)

# Needs /usr/bin/chromium (apt-get install chromium); fails, never skips, without it
test-browser: setup
	REVGNN_EDU_BROWSER_TEST=1 $(PY) -m pytest tests/browser

notebooks: setup
	cd notebooks && for nb in $(NB); do \
	    echo "executing $$nb"; \
	    ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	        --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=900 "$$nb" || exit 1; \
	done

bench: setup
	$(PY) benchmarks/run_all.py

gpu-check: setup
	$(PY) benchmarks/gpu_check.py

bench-data: setup
	$(PY) benchmarks/bench_data.py

clean:
	rm -rf .pytest_cache build *.egg-info
