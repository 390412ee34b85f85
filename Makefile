# Thin wrappers; the real work is in `modelship dev` and pytest.
SHELL := /bin/bash
PYTHON ?= python3
export MODELSHIP_CACHE ?= $(HOME)/.cache/modelship
# The virtual environment lives in the cache, outside the checkout, so a fresh clone on the same
# machine reuses it (pip still re-checks every requirement on each run).
VENV ?= $(MODELSHIP_CACHE)/venv
PY := $(VENV)/bin/python
MS := $(VENV)/bin/modelship
BIN := $(MODELSHIP_CACHE)/bin
PYTEST_ARGS ?=

.PHONY: install testbed images chart-docs reasons lint test test-unit test-integration test-e2e dev dev-down crds bench helm-lint

install:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,server,train,tf-cpu]'
	# TF Serving's own client stubs, for the compatibility tests: the package requires
	# `tensorflow`, which would install beside tensorflow-cpu, so without its dependencies.
	$(PY) -m pip install -q --no-deps tensorflow-serving-api

testbed: install
	$(MS) dev build

# The operator, server and trainer images (and the sandbox's pause and example images), built
# with a private Docker engine from Debian's packages and PyPI; tagged with the chart's appVersion.
images: testbed
	$(MS) dev images

# charts/modelship/README.md, from the comments in values.yaml.
chart-docs: install
	$(PY) -m modelship.dev.chartdocs charts/modelship > charts/modelship/README.md

# docs/reasons.md, from operator/modelship/api/reasons.py.
reasons: install
	$(PY) -m modelship.api.reasons > docs/reasons.md

crds: install
	$(PY) -m modelship.api.crd > crds/modeldeployments.modelship.io.yaml
	cp crds/modeldeployments.modelship.io.yaml charts/modelship/files/crds/

lint: install
	$(VENV)/bin/ruff check operator tests bench examples
	$(VENV)/bin/ruff format --check operator tests bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: testbed
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: testbed
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# The README's second command: dependencies, the test bed, lint, then every test tier.
test: install testbed images lint helm-lint
	$(PY) -m pytest tests/unit tests/integration tests/e2e $(PYTEST_ARGS)

# The README's first command: the sandbox with the operator, the digits example pushed and
# deployed, and its status shown.
dev: images
	$(MS) dev up --operator > $(MODELSHIP_CACHE)/sandbox-env.sh
	source $(MODELSHIP_CACHE)/sandbox-env.sh && \
	  model=$(MODELSHIP_CACHE)/digits-model && \
	  { test -d $$model || $(PY) examples/digits/train.py --output $$model \
	      --metrics-file $$model.metrics.json; } && \
	  { $(MS) versions s3://models/digits --output json 2>/dev/null | grep -q '"number"' || \
	    $(MS) push $$model s3://models/digits --metrics $$model.metrics.json; } && \
	  $(BIN)/kubectl apply -f examples/digits/modeldeployment.yaml && \
	  $(BIN)/kubectl wait --for=condition=Ready modeldeployment/digits --timeout=300s && \
	  $(BIN)/kubectl get modeldeployments -o wide && \
	  $(BIN)/kubectl get pods -o wide -l app.kubernetes.io/component=serving && \
	  echo && echo "A prediction through the digits Service (a picture of a 0):" && \
	  curl -sS --fail-with-body -d @examples/digits/request.json \
	    "http://$$($(BIN)/kubectl get service digits -o jsonpath='{.spec.clusterIP}'):8501/v1/models/digits:predict"
	@echo
	@echo
	@echo "The sandbox is up. Use it with:  source $(MODELSHIP_CACHE)/sandbox-env.sh"
	@echo "Stop it with:                     make dev-down"

dev-down:
	$(MS) dev down

bench: testbed
	# -P: the script's folder is not put first on sys.path, so no script there can shadow a
	# module of Python's own.
	$(PY) -P bench/testbed.py
	$(PY) -P bench/artifacts.py --size-mb 256
	$(PY) -P bench/serving.py
	$(PY) -P bench/optimize.py
	@$(MS) dev status >/dev/null 2>&1 && $(PY) -P bench/real_node.py || \
	  echo "bench/real_node.py needs the sandbox with its real node: run make dev first"

helm-lint: testbed
	$(BIN)/helm lint charts/modelship
