# Set-up, demo and tests. Everything installs into a project-local virtual environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup data demo test test-slow lint clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed

# The embedded default data set: Debian's package (needs root); --data-dir works otherwise.
data:
	@if [ -d $(FMNIST) ]; then echo "Fashion-MNIST: $(FMNIST)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -q && apt-get install -y -q dataset-fashion-mnist) >/dev/null \
	  || echo "warning: could not install dataset-fashion-mnist"; \
	else echo "Fashion-MNIST not found: run 'sudo apt-get install dataset-fashion-mnist'"; fi

demo: setup data
	$(PY) scripts/demo.py

# The README's test command: everything but the tests marked slow (about 4 minutes on 2 cores).
test: setup data
	$(PY) -m pytest -q -m "not slow"

# The slow ones: whole sweeps and studies in child processes, the dry GPU check (about 4 minutes).
test-slow: setup data
	$(PY) -m pytest -q -m slow

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf checkpoints results wandb .pytest_cache
