# The two set-up commands (README): `make demo` and `make test`. Each builds its own
# virtual environment on first use and reuses it afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
DEMO_VENV ?= .venv-demo
PIP ?= pip --disable-pip-version-check -q

.PHONY: demo test docs notebooks-html bench mutation clean

# Demo: core dependencies plus BM25 (bm25s, light; no torch): the bundled embeddings are
# precomputed, BM25 lets the demo name lexical mismatches.
$(DEMO_VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/$(PIP) install -e ".[lexical]"
	touch $@

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/vecdiag demo

# Tests: everything. torch==2.13.0 (the CPU build) goes in first, so that
# sentence-transformers does not pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/$(PIP) install torch==2.13.0
	$(VENV)/bin/$(PIP) install -e ".[all,notebooks,dev]"
	touch $@

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg $(VENV)/bin/python -m pytest

# The documentation site (docs/, Sphinx): docs/_build/html/index.html. Warnings are errors;
# the notebooks are executed (cached in docs/_build/.jupyter_cache). VECDIAG_DOCS_EXECUTE=off
# renders them without running.
docs: $(VENV)/.installed
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/python -m sphinx -b html -W --keep-going -q docs docs/_build/html

# Executed copies of the notebooks, for reading (notebooks/_build/*.html).
notebooks-html: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(VENV)/bin/jupyter nbconvert --to html --execute --output-dir notebooks/_build notebooks/*.ipynb

# Benchmarks: on demand, never in CI.
bench: $(VENV)/.installed
	for f in benchmarks/bench_*.py; do $(VENV)/bin/python $$f || exit 1; done

# Mutation score of the core packages (mutmut; benchmarks/MUTATION.md): on demand, never in
# CI. A seeded sample of 220 mutants; about an hour on 2 busy cores.
mutation: $(VENV)/.installed
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg $(VENV)/bin/python benchmarks/mutation.py --sample 220 --seed 22

clean:
	rm -rf $(VENV) $(DEMO_VENV) .pytest_cache
