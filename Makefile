# Two entry points for users: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the tests also load exports through TorchGeo (optional extra: torch and torchvision from PyPI)
TEST_STAMP := $(VENV)/.installed-test
# Debian packages the project needs: PROJ's geoid grids (EGM96) for DEM heights.
APT_PACKAGES := proj-data
# ...and the tests only: the UI test drives Debian's Chromium through Playwright
# (Playwright's own browser download is not used), with fonts for readable screenshots; the
# Celery test's broker is Debian's redis-server (started by the test on a loopback port).
APT_TEST_PACKAGES := chromium fonts-liberation redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install install-test system system-test clean

# the code location and what it needs at run time, nothing for the tests (make demo)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e .
	touch $@

# install the Debian packages of $(1) that are missing
define apt_ensure
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

system:
	$(call apt_ensure,$(APT_PACKAGES))

system-test:
	$(call apt_ensure,$(APT_PACKAGES) $(APT_TEST_PACKAGES))

install: system $(STAMP)

# ...and the test tools, the distributed executors and TorchGeo (make test)
$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test,torchgeo]'
	touch $@

install-test: system-test $(STAMP) $(TEST_STAMP)

demo: install
	$(BIN)/python -m ben_sen1_assets.demo

test: install-test
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .ben_sen1 test-artifacts
