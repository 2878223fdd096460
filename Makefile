# Two entry points matter: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages: libasound2 for python-rtmidi's wheel, espeak-ng for the local voice,
# tmux for the test that drives `airi up` in a real terminal, jackd2 for MIDI without hardware.
DEBIAN_PACKAGES := libasound2 espeak-ng tmux jackd2

.PHONY: run test bench lint setup system-packages clean

run: setup
	$(BIN)/airi up

test: setup lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m bench.ipc
	$(BIN)/python -m bench.router

lint: setup
	$(BIN)/ruff check agent airi_tui themes tests bench
	$(BIN)/mypy

setup: system-packages $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then echo "install these packages:$$missing"; exit 0; fi; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
