# authsite: the two commands are `make run` (service on embedded defaults) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/9
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv run migrate test services worker loadtest bench clean

help:
	@echo "make run    - set up and run the service at http://$(HOST):$(PORT) (embedded defaults)"
	@echo "make test   - set up and run the test suite on local PostgreSQL + Redis"
	@echo "make worker - run a Celery worker"
	@echo "make bench / make loadtest - benchmarks and load tests"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) -m authsite.serve --host $(HOST) --port $(PORT)

worker: venv
	$(VENV)/bin/celery -A authsite worker --loglevel=INFO

services:
	./scripts/services.sh

test: venv services
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-test-only-secret-key-not-for-production-use-0123456789} \
	$(PY) -m pytest $(PYTEST_ARGS)

# Load tests: a bounded headless Locust run against the server at $(HOST):$(PORT) (loopback only,
# e.g. one started with `make run`); CSV and HTML reports go to the git-ignored reports/.
LOCUST_USERS ?= 20
LOCUST_SPAWN_RATE ?= 5
LOCUST_RUN_TIME ?= 60s
LOCUST_CLASSES ?= MixedUser
LOCUST_SEED_USERS ?= 1000

loadtest: venv
	mkdir -p reports
	$(PY) manage.py seed_users --count $(LOCUST_SEED_USERS)
	$(PY) -m locust -f loadtests/locustfile.py --headless -u $(LOCUST_USERS) -r $(LOCUST_SPAWN_RATE) \
		--run-time $(LOCUST_RUN_TIME) --host http://$(HOST):$(PORT) --seed-count $(LOCUST_SEED_USERS) \
		--csv reports/locust --html reports/locust.html $(LOCUST_CLASSES)

# Benchmark: starts its own server, database (authsite_bench) and Celery worker, measures, stops
# them, prints the table and writes docs/benchmarks.md. BENCH_SECONDS = length of each of its
# ~11 measurements (default: 3 runs, about 6 minutes).
BENCH_SECONDS ?= 10
# Whole runs; each table row is the run with the median ratio (this machine drifts ±25 %).
BENCH_RUNS ?= 3
BENCH_ARGS ?=

bench: venv
	$(PY) loadtests/bench.py --seconds $(BENCH_SECONDS) --runs $(BENCH_RUNS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var reports
