# landcheck: two commands do all set-up on a fresh machine (Python 3.11 with venv).
#   make run   - create .venv, install landcheck, run the whole pipeline on the committed sample
#   make test  - create .venv, install landcheck + pytest, run the tests
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/sample
STAMP  := $(VENV)/.installed

.PHONY: install run test clients bench-tools bench bench-national eval sample clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/landcheck run configs/sample.yaml --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The real clients the deliverables are tested in (tests/reports/test_in_*): QGIS (python3-qgis),
# LibreOffice Calc and Chromium, headless, from Debian's packages (needs root; CI runs it before
# `make test`). Without them those tests are skipped with the reason, except under CI=true.
CLIENT_PACKAGES := python3-qgis qgis-providers libreoffice-calc-nogui chromium fonts-noto-cjk
clients:
	@if dpkg -s $(CLIENT_PACKAGES) >/dev/null 2>&1; then echo "clients: installed"; else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CLIENT_PACKAGES) >/dev/null && echo "clients: installed"; fi

# The command-line tools the detection benchmark sets landcheck beside (gdalbuildvrt, gdal_calc.py,
# gdal_sieve.py, gdal_polygonize.py), from Debian's packages (needs root, as `clients`).
BENCH_PACKAGES := gdal-bin python3-gdal
bench-tools:
	@if dpkg -s $(BENCH_PACKAGES) >/dev/null 2>&1; then echo "bench tools: installed"; else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES) >/dev/null && echo "bench tools: installed"; fi

# Speed: overlay and detection side by side with the obvious alternatives, then the whole country
# (bench/national: generated on ../shared/data/china_admin, run in-process and on a 2-worker
# LocalCluster, checked against its truth). Writes docs/benchmarks.md. About 20 minutes once its
# worlds exist in bench/out (2026-11-22, 2 cores); generating them the first time adds about
# 2 minutes (national world 57 s, 144 Mpx NAIP-texture pair 58 s).
bench: $(STAMP) bench-tools
	$(BIN)/python bench/run_bench.py
	$(BIN)/python -m bench.national.bench

bench-national: $(STAMP)
	$(BIN)/python -m bench.national.bench

# Detection quality on the real labelled pairs of ../shared/data (writes docs/benchmarks.md, bench/out/eval.json).
eval: $(STAMP)
	$(BIN)/python bench/eval_detection.py

# Regenerate the committed sample and configs/sample*.yaml with the development tool samplegen/
# (not installed with landcheck; deterministic; needs ../shared/data/china_admin or the committed county copy),
# then the sample's returned verdicts for the CURRENT detector (data/sample_tiles/verdicts/, truth/verified_*.csv):
# rerun after retraining the detector (the world itself is rewritten byte-identical).
sample: $(STAMP)
	$(BIN)/python -m samplegen data/sample_tiles --config-dir configs

clean:
	rm -rf $(VENV) out .pytest_cache
