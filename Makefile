# The README names these targets. `make demo` and `make test` are the two that matter.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps

.PHONY: help setup assets clamd chromium libreoffice bubblewrap nginx fonts pgbench demo test lint typecheck audit pytest screenshots bench migrate clean

help:
	@echo "make demo       install, build assets, migrate, seed and run the demo on http://127.0.0.1:5000"
	@echo "make test       install, then lint (ruff, import-linter) and run the whole test suite (pytest)"
	@echo "make setup      install Python dependencies (hash-locked) into .venv and build GOV.UK assets"
	@echo "make typecheck  mypy over the portal package"
	@echo "make audit      known-vulnerability audit of the locked Python and npm dependencies"
	@echo "make screenshots  run the browser tests and save the key screens into docs/screenshots"
	@echo "make bench      the benchmarks on the real stack (about 15 min): a table, also in docs/benchmarks.md"
	@echo "make clean      remove .venv, node_modules, built assets and the demo instance"

$(STAMPS)/venv: requirements/dev.txt pyproject.toml
	@mkdir -p $(STAMPS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(STAMPS)/assets: package.json package-lock.json scripts/build-assets.sh portal/assets/portal.css portal/assets/session-timeout.mjs
	@mkdir -p $(STAMPS)
	bash scripts/build-assets.sh
	@touch $@

setup: $(STAMPS)/venv $(STAMPS)/assets

# ClamAV's clamd, which the attachment tests run with a test-only signature (Debian package).
clamd:
	bash scripts/install-debian-package.sh clamav-daemon /usr/sbin/clamd "the attachment tests"

# Debian's Chromium, which the browser tests drive through Playwright (no browser download).
chromium:
	bash scripts/install-debian-package.sh chromium /usr/bin/chromium "the browser tests"

# LibreOffice (headless, no GUI), which converts office documents to PDF for their safe copies
# (docs/disarm.md): Writer, Calc and Impress, each checked by a library it installs.
LO := /usr/lib/libreoffice/program
libreoffice:
	bash scripts/install-debian-package.sh libreoffice-writer-nogui $(LO)/libswlo.so "the safe copy tests"
	bash scripts/install-debian-package.sh libreoffice-calc-nogui $(LO)/libsclo.so "the safe copy tests"
	bash scripts/install-debian-package.sh libreoffice-impress-nogui $(LO)/libsdlo.so "the safe copy tests"

# bubblewrap, which starts the document converter in its sandbox (docs/disarm.md "The sandbox").
bubblewrap:
	bash scripts/install-debian-package.sh bubblewrap /usr/bin/bwrap "the safe copy tests"

# nginx, which the topology tests run in front of two gunicorn instances (Debian package).
nginx:
	bash scripts/install-debian-package.sh nginx /usr/sbin/nginx "the topology tests"

# pgbench, the benchmarks' measure of what the database server commits a second: the audit
# append rate is shown against it (bench/pgbench.py). Debian's postgresql-client has it.
pgbench:
	bash scripts/install-debian-package.sh postgresql-client /usr/bin/pgbench "the benchmarks"

# DejaVu Sans, the font of the partner's copy as a PDF (docs/receipts.md): Debian's
# fonts-dejavu-core. Without it the PDF is not made (its tests are skipped, and fail in CI).
fonts:
	bash scripts/install-debian-package.sh fonts-dejavu-core /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf "the PDF copy tests"

assets: $(STAMPS)/assets

demo: setup libreoffice bubblewrap fonts
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# ruff, and import-linter's contracts on the layers (pyproject.toml [tool.importlinter]).
lint: $(STAMPS)/venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(STAMPS)/venv
	$(BIN)/mypy

# pip-audit and npm audit; says NOT AUDITED (and passes) where no advisory service is reachable,
# unless PORTAL_REQUIRE_AUDIT=1.
audit: setup
	$(BIN)/python scripts/audit-dependencies.py

# Two processes (pytest-xdist), each handed whole test files (--dist loadfile), so a module's
# servers start once: most of the suite waits on PostgreSQL, Chromium and subprocesses, so two
# fit on two CPUs. Each process has its own database, browser, stack and private servers on
# free ports. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
pytest: setup clamd chromium libreoffice bubblewrap nginx fonts pgbench
	$(BIN)/pytest --numprocesses $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck audit pytest

# The browser tests, saving the key screens into docs/screenshots (docs/accessibility.md).
screenshots: setup chromium
	PORTAL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/browser $(PYTEST_ARGS)

# The benchmarks (bench/): the real stack on loopback, the issue's volumes, one table.
# Needs a quiet machine: the figures are this machine's speed. (`python -m bench --smoke` is
# the quick check the test suite runs: tests/bench/test_smoke.py.)
bench: setup libreoffice bubblewrap pgbench
	$(BIN)/python -m bench --output docs/benchmarks.md

migrate: $(STAMPS)/venv
	$(BIN)/portal db upgrade

clean:
	rm -rf $(VENV) node_modules portal/static/govuk instance/demo $(STAMPS)
