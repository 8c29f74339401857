# 广西公安“放管服”政务问答助手 — developer and CI entry points. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run web-deps lint types format test test-unit test-integration test-e2e venv kb train shell eval eval-cv validate show search crossval bench bench-load bench-floor system-deps lock clean cluster
CASES ?= tests/data/eval_cases.yml tests/data/near_scope_cases.yml tests/data/dialogue_cases.yml tests/data/heldout_cases.yml
OUT ?= var/eval/results.json

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: venv web-deps kb train ## set everything up and start the action server, Rasa and the web page + console (Ctrl-C stops all)
	$(PY) -m bot run

cluster: venv web-deps system-deps kb train ## BOT_ENV=production on this machine: PostgreSQL, Redis, 2 Rasa + 2 action + 2 web servers behind nginx (CLUSTER_PORT 8000)
	$(PY) -m bot.ops.cluster

test: venv web-deps system-deps kb ## set everything up and run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv kb ## the unit tests only (tests/unit: no servers, about a minute)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv system-deps kb ## the integration tests only (tests/integration: real PostgreSQL and Redis)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: venv web-deps system-deps kb ## the end-to-end tests only (tests/e2e: python -m bot run, the cluster, the browser)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

venv: $(STAMP) ## create .venv with Python 3.10 and install the pinned dependencies

$(STAMP): requirements.lock scripts/find_python310.sh
	@set -e; py=$$(scripts/find_python310.sh); \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	  rm -rf $(VENV); echo "creating $(VENV) with $$py"; $$py -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade 'pip==24.0'
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $@

# The browser-side packages, pinned in web/package-lock.json: the console's Apache ECharts, served by
# bot/webapp/server.py at /static/vendor/ (no CDN), and axe-core, which the accessibility tests
# (tests/e2e/test_accessibility.py) read from disk and inject into the pages. Reinstalled when a file
# is missing or older than the lock; the touch stamps the install (npm ci writes the files before it
# finishes). Without npm, scripts/install_system_deps.sh --npm installs Debian's nodejs and npm.
ECHARTS := web/node_modules/echarts/dist/echarts.min.js
AXE := web/node_modules/axe-core/axe.min.js
web-deps: $(ECHARTS) $(AXE) ## install the JavaScript packages (ECharts; axe-core for the tests) from web/package-lock.json with npm ci

$(ECHARTS) $(AXE) &: web/package-lock.json web/package.json
	@command -v npm >/dev/null 2>&1 || scripts/install_system_deps.sh --npm
	npm ci --prefix web --no-audit --no-fund
	@touch $(ECHARTS) $(AXE)

kb: venv ## parse the source document into the knowledge base (var/knowledge.db) and jieba dictionary
	$(PY) -m knowledge build

train: venv kb ## train the Rasa model unless one for the current data and config exists
	$(PY) -m bot train

shell: venv kb train ## chat with the assistant in the terminal (starts the action server too)
	$(PY) -m bot shell

eval: venv kb train ## run the case files through the real stack, report by tag: make eval [CASES="a.yml b.yml"] [OUT=var/eval/results.json]
	$(PY) -m bot eval $(CASES) --out $(OUT)

eval-cv: venv kb train ## cross-validate the answer decision by author batch (tests/data): report by fold, batch and tag; per-turn results in var/eval/cv.json
	$(PY) -m bot eval-cv --out var/eval/cv.json

validate: venv kb train ## check the data: rasa data validate --fail-on-warnings plus the project's own checks (bot/quality/validate.py)
	$(PY) -m bot.quality.validate

crossval: venv kb ## 3-fold NLU cross-validation into var/crossval (report, confusion matrix, histogram); summary: bench/crossval_summary.py
	$(PY) -m rasa test nlu --nlu data/nlu --config config.yml --cross-validation --folds 3 --out var/crossval
	$(PY) bench/crossval_summary.py var/crossval/intent_report.json

bench: venv kb train ## benchmarks: knowledge base, NLU contenders (BM25, rasa init's pipeline, DIET), REST latency
	$(PY) bench/bench_kb.py
	$(PY) bench/compare_nlu.py --configs config.yml bench/configs/diet.yml bench/configs/rasa_init_default.yml
	$(PY) bench/bench_rest.py

LINT_VENV := .venv-lint
$(LINT_VENV)/.installed: requirements-lint.lock scripts/find_python310.sh
	@set -e; py=$$(scripts/find_python310.sh); rm -rf $(LINT_VENV); $$py -m venv $(LINT_VENV); \
	$(LINT_VENV)/bin/pip install --quiet 'pip==24.0'; $(LINT_VENV)/bin/pip install --quiet -r requirements-lint.lock
	@touch $@

lint: $(LINT_VENV)/.installed ## ruff: lint (pycodestyle, pyflakes, import order, bugbear, blind except, Google docstrings) and format check
	$(LINT_VENV)/bin/ruff check .
	$(LINT_VENV)/bin/ruff format --check .

format: $(LINT_VENV)/.installed ## ruff: fix what can be fixed and format the code
	$(LINT_VENV)/bin/ruff check --fix .
	$(LINT_VENV)/bin/ruff format .

types: venv $(LINT_VENV)/.installed ## mypy on bot, actions and knowledge (pyproject.toml), against .venv's packages
	$(LINT_VENV)/bin/mypy

BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: bench/load/requirements.lock scripts/find_python310.sh
	@set -e; py=$$(scripts/find_python310.sh); rm -rf $(BENCH_VENV); $$py -m venv $(BENCH_VENV); \
	$(BENCH_VENV)/bin/pip install --quiet 'pip==24.0'; $(BENCH_VENV)/bin/pip install --quiet -r bench/load/requirements.lock
	@touch $@

bench-load: venv system-deps kb train $(BENCH_VENV)/.installed ## load test (locust, 50 conversations) on make run and make cluster: table + plot in bench/reports/
	$(PY) bench/bench_load.py $(BENCH_ARGS)

bench-floor: venv kb train ## the reply next to the NLU that decides it (parse / action server / REST reply, saturation, RSS): make bench-floor [BENCH_ARGS="--against REF"]
	$(PY) bench/bench_floor.py --json var/bench/floor.json --plot bench/reports/floor_latency.png $(BENCH_ARGS)

show: venv kb ## show one measure: make show N=22
	$(PY) -m knowledge show $(N)

search: venv kb ## keyword search over the measures: make search Q=落户
	$(PY) -m knowledge search "$(Q)"

system-deps: ## install the Debian packages the tests need (PostgreSQL, Redis, Chromium) when missing
	scripts/install_system_deps.sh

lock: ## re-pin requirements.lock from requirements.in in a scratch venv
	@set -e; py=$$(scripts/find_python310.sh); rm -rf var/lockenv; $$py -m venv var/lockenv; \
	var/lockenv/bin/pip install --quiet 'pip==24.0'; var/lockenv/bin/pip install --quiet -r requirements.in -c <(echo attrs==22.1.0); \
	var/lockenv/bin/pip freeze --exclude-editable > requirements.lock; rm -rf var/lockenv; echo "requirements.lock updated"

clean: ## remove generated data (var/, models/); keeps .venv
	rm -rf var models .pytest_cache
