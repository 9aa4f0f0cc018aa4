# Two commands do all the set-up: `make pre` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian packages the tests use: the fleet's image builder and namespaces, real services for the
# probe tests, a browser for the report test and tmux for the prompt test. policy-rc.d keeps
# apt from starting the services on this machine: the tests start their own.
DEBS := debootstrap iproute2 util-linux openssh-client openssh-server sudo openssl nftables \
	nginx haproxy postgresql prometheus prometheus-alertmanager chromium tmux

.PHONY: pre post test lint system-deps

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(DEBS); do dpkg-query -W -f '$${Status}\n' $$p 2>/dev/null \
	    | grep -q '^install ok installed' || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing: $$missing"; \
	    [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
	      chmod +x /usr/sbin/policy-rc.d; added=1; }; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $$missing >/dev/null; status=$$?; \
	    [ -z "$$added" ] || rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; fi; \
	else echo "not root: skipping Debian packages; tests that need them say so"; fi

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# the run's last lines say where the evidence went: reports/<change>/. Evidence is signed by
# default with the operator's key at ~/.maintcheck/operator.key: made here first when missing.
OPERATOR_KEY := $(HOME)/.maintcheck/operator.key

pre: $(STAMP)
	@[ -e "$(OPERATOR_KEY)" ] || { echo "no operator key yet: making one, self-signed, at" \
	  "$(OPERATOR_KEY) for $$(id -un)@$$(hostname) (give $(OPERATOR_KEY:.key=.crt) to your auditors)"; \
	  $(VENV)/bin/maintcheck keygen --name "$$(id -un)@$$(hostname)" --key "$(OPERATOR_KEY)"; }
	$(VENV)/bin/pytest checks/pre

test: $(STAMP) system-deps
	$(VENV)/bin/pytest tests

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests checks
	$(VENV)/bin/mypy src checks

# The demo: boot six real Debian hosts on this machine (root; the image is cached after the
# first build), then run the pre-maintenance checks against them. `make demo-down` removes it.
FLEET_PY := PYTHONPATH=tests $(PY) -m fleet

.PHONY: demo demo-down

demo: $(STAMP) system-deps
	inventory=$$($(FLEET_PY) up) || exit $$?; \
	$(VENV)/bin/pytest checks/pre --inventory "$$inventory"; status=$$?; \
	  echo "fleet inventory: $$inventory (make demo-down removes the fleet)"; \
	  echo "evidence: $$(ls -dt reports/*/ 2>/dev/null | head -n 1)"; exit $$status

demo-down: $(STAMP)
	$(FLEET_PY) down

# The fleet-scale benchmark (root): boots 10, 50 and 200 sshd-only hosts one size after the
# other, measures `pytest checks/pre` beside plain testinfra and the ssh floor, prints a table
# (about 30 minutes). Other sizes: make bench BENCH_ARGS="--hosts 10,50". See docs/benchmark.md.
.PHONY: bench

bench: $(STAMP) system-deps
	$(PY) bench/run.py $(BENCH_ARGS)
