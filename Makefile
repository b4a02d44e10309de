# Two commands a newcomer needs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/rebalancer demo

# Two workers: the integration and fault suites run on every dialect (binance, bybit, okx), and most
# of their time is waiting on loopback HTTP and subprocesses. loadgroup keeps xdist_group tests together.
PYTEST_WORKERS ?= 2
test: $(STAMP) browser
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The browser tests (tests/browser) drive headless Chromium and ChromeDriver. On Debian they are
# installed here when missing (apt-get, as root or through sudo); elsewhere install them yourself
# (CHROMIUM / CHROMEDRIVER point the tests at them) or set REBALANCER_SKIP_BROWSER=1.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
browser:
	@if [ "$$REBALANCER_SKIP_BROWSER" = "1" ] || { [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ]; }; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium and chromium-driver for the browser tests"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; \
	else \
		echo "the browser tests need Chromium and ChromeDriver at $(CHROMIUM) and $(CHROMEDRIVER) (or set REBALANCER_SKIP_BROWSER=1)"; \
	fi

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_planner.py
	$(BIN)/python benchmarks/bench_cycle.py
	$(BIN)/python benchmarks/bench_accounts.py
	$(BIN)/python benchmarks/bench_dashboard.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
