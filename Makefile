# Two commands do everything on a fresh machine, set-up included:
#   make demo   - compress and decompress the bundled photo, print bpp and PSNR
#   make test   - run the test suite
# The virtual environment is created on first use. The demo installs only what
# coding needs (no torch); the tests add torch, pinned to the CPU build 2.13.0 by
# constraints.txt (pyproject states the range users can satisfy).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

# what coding needs: the library and the command, no torch
$(VENV)/.base: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed: $(VENV)/.base
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

demo: $(VENV)/.base
	$(BIN)/vqcodec demo

test: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m benchmarks.rd

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
