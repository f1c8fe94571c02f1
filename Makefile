# fbtui: every target creates the virtual environment when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.fbtui-installed

.PHONY: install demo test test-fast soak bench lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Train the demo experiment (tiny CNN, synthetic faces, CPU). In a terminal it starts the
# run in the background and opens the dashboard on it; otherwise it trains in the foreground.
demo: $(STAMP)
	@if [ -t 0 ] && [ -t 1 ]; then \
		run=$$($(PY) -m fbtui run experiments/demo.toml --detach) && \
		$(PY) -m fbtui dashboard --watch "$$run"; \
	else \
		$(PY) -m fbtui run experiments/demo.toml; \
	fi

test: $(STAMP)
	$(PY) -m pytest -q -x -n 2 --dist loadfile -m "not soak"

soak: $(STAMP)
	$(PY) -m pytest -q -m soak

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check fbtui tests benchmarks
	$(VENV)/bin/ruff format --check fbtui tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff check --fix fbtui tests benchmarks
	$(VENV)/bin/ruff format fbtui tests benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
