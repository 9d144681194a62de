# The two commands: `make dev` (local LiveKit stack + worker) and `make test` (the whole suite).
# Both install what they need first (scripts/install.sh). On Linux as root they run inside a
# private network namespace (scripts/in-netns) so WebRTC never touches a real interface;
# NETNS=off runs on the host network (an operator's laptop), NETNS=on insists on the namespace.

PYTHON ?= python3
NETNS  ?= auto
export PYTHON

ifeq ($(NETNS),off)
  IN_NETNS :=
else ifeq ($(NETNS),on)
  IN_NETNS := scripts/in-netns
else
  IN_NETNS := $(shell [ "$$(id -u)" = 0 ] && command -v unshare >/dev/null && echo scripts/in-netns)
endif

.PHONY: install dev call browser test unit lint bench demo seed emulators clean

install:
	@bash scripts/install.sh

dev: install
	$(PYTHON) -m devstack dev --netns $(if $(IN_NETNS),on,off)

# Phone the agent while `make dev` runs (joins its network namespace). TALK=1: microphone.
call:
	$(PYTHON) -m devstack.call $(if $(TALK),--talk,)

# Open the dev stack's web page in Chromium inside its network namespace (a desktop session).
browser:
	$(PYTHON) -m devstack.browser

test: install
	$(IN_NETNS) $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	$(MAKE) --no-print-directory lint

unit: install
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit tests/behaviour

# ruff, the type checker (mypy, configured in pyproject.toml) and the import-graph check.
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	$(PYTHON) -m devstack.import_graph

bench: install
	$(IN_NETNS) $(PYTHON) -m bench.latency $(BENCH_ARGS)

demo: install
	$(IN_NETNS) $(PYTHON) -m bench.demo

seed: install
	$(PYTHON) -m agent.data.seed

emulators: install
	$(PYTHON) -m emulators --port 8700 --profile reference

clean:
	rm -rf .state .bin bench-results
