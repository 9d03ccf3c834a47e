# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine with python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the tests need: promtool and a Prometheus server, Chromium for the HTML view,
# WordNet 3.0 and the LibreOffice thesaurus for the evaluation spinners and the WordNet family.
TEST_DEBS := prometheus chromium wordnet-base mythes-en-us

.PHONY: setup setup-test demo test bench eval wordnet-family clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Compiling the restorer's kernels once here spares the first worker or test about 30 s.
COMPILE := $(BIN)/python -c "from workers.restoration.restorer import compile_kernels; compile_kernels()"

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(COMPILE)

setup-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(COMPILE)
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "note: not root or no apt-get; install Debian packages by hand: $(TEST_DEBS)"; fi

demo: setup
	$(BIN)/unspun demo

test: setup-test
	$(BIN)/python -m pytest -q

bench: setup-test
	$(BIN)/python bench/run.py --quick

eval: setup-test
	$(BIN)/unspun eval --quick

# Regenerates workers/restoration/data/families/wordnet/ from WordNet 3.0 (Debian wordnet-base).
wordnet-family: setup
	$(BIN)/python -m workers.restoration.build.wordnet_family

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
