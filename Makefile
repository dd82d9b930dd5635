# One entry point for everything a person does. `make test` works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CKPT ?= checkpoints/hairnet.pt
MLPACKAGE ?= HairNet.mlpackage

.PHONY: test pytest swift-test convert bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

test: pytest swift-test

pytest: $(VENV)/.installed
	$(PY) -m pytest -q

swift-test:
	@if command -v swift >/dev/null 2>&1; then \
		swift build && swift test; \
	else \
		echo "SKIPPED Swift build and tests: no Swift toolchain on PATH"; \
	fi

convert: $(VENV)/.installed
	$(PY) conversion/to_coreml.py $(CKPT) -o $(MLPACKAGE) --force

clean:
	rm -rf .build build
