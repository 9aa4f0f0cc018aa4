# Two commands do all the set-up: `make pre` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: pre post test lint

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

pre: $(STAMP)
	$(VENV)/bin/pytest checks/pre; status=$$?; \
	  echo "evidence: $$(ls -d reports/*/ 2>/dev/null | tail -n 1)"; exit $$status

test: $(STAMP)
	$(VENV)/bin/pytest tests

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests checks
	$(VENV)/bin/mypy src
