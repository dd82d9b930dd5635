# One entry point for everything a person does. `make test` works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CKPT ?= checkpoints/hairnet.pt
MLPACKAGE ?= HairNet.mlpackage

BUNDLED := ios/HairNetKit/Sources/HairNetKit/Resources/HairNet.mlpackage
# fp16 without palettization: 8-bit palettes flipped attribute decisions in verify.py (MODEL_CARD.md).
# Where fp16 fails verify, bundle --precision fp32 (hairnet-v7 did: one decision at p within 0.0007 of 0.5).
BUNDLE_FLAGS ?=

RUN ?= runs/hairnet-v31
# The paper's ablation beside it in accuracy.md: stages 2-3 with heads trained without masking
# (v31's own ablation was lost with a machine; v36-no-masking repeats it from v31's weights).
ABLATION ?= runs/hairnet-v36-no-masking/last.pt

.PHONY: test pytest swift-test convert bundle-model ship-model predict-example bench clean

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

# The model HairNetKit ships: the shipped checkpoint, converted and verified (MODEL_CARD.md).
bundle-model: $(VENV)/.installed
	$(PY) conversion/to_coreml.py $(CKPT) -o $(BUNDLED) --force $(BUNDLE_FLAGS)
	$(PY) conversion/verify.py $(BUNDLED) --checkpoint $(CKPT)

# A finished run → the shipped checkpoint (fp16, its hair-logit offset chosen on the validation splits,
# carrying its evaluation figures) and the bundled package.
ship-model: $(VENV)/.installed
	$(VENV)/bin/hairnet export --checkpoint $(RUN)/last.pt --out $(CKPT)
	$(VENV)/bin/hairnet calibrate $(CKPT) --out $(CKPT)
	$(PY) benchmarks/accuracy.py --checkpoint $(CKPT) $(if $(wildcard $(ABLATION)),--ablation $(ABLATION))
	$(VENV)/bin/hairnet export --checkpoint $(CKPT) --out $(CKPT) --evaluation benchmarks/results/accuracy.json
	$(MAKE) bundle-model

# CPU latency beside reference networks, and package sizes: benchmarks/results/ (benchmarks/README.md).
bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/latency.py --checkpoint $(CKPT)
	$(PY) benchmarks/complexity.py $(CKPT)

# scikit-image's astronaut.png: a public-domain portrait that installs with the test extra.
predict-example: $(VENV)/.installed
	mkdir -p out
	$(PY) -c "import skimage.data, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save('out/astronaut.png')"
	$(VENV)/bin/hairnet predict out/astronaut.png --checkpoint $(CKPT) --out out

clean:
	rm -rf .build build out
