# authsite: the two commands are `make run` (service on embedded defaults) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/9
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv run migrate test services worker loadtest bench bench-migration clean

help:
	@echo "make run    - set up and run the service at http://$(HOST):$(PORT) and a mail worker (embedded defaults)"
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

# A Celery worker runs beside the server: it sends the mails (printed here when EMAIL_HOST is unset).
run: migrate
	$(VENV)/bin/celery -A authsite worker -Q $(WORKER_QUEUES) --pool solo --loglevel WARNING & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; \
	$(PY) -m authsite.serve --host $(HOST) --port $(PORT)

# Queues the worker consumes: `celery` (interactive tasks) and `bulk` (imports, wrapping).
WORKER_QUEUES ?= celery,bulk

worker: venv
	$(VENV)/bin/celery -A authsite worker -Q $(WORKER_QUEUES) --loglevel=INFO

services:
	./scripts/services.sh

# Import-linter contracts (.importlinter) first: a broken floor plan fails the run.
test: venv services
	$(VENV)/bin/lint-imports
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-test-only-secret-key-not-for-production-use-0123456789} \
	$(PY) -m pytest $(PYTEST_ARGS)

# Load test: starts its own server (database authsite_loadtest, Redis db 14, a Celery worker),
# seeds users, runs Locust headless, stops what it started; exits non-zero if any request failed.
# Load-test configuration = the service's defaults plus THROTTLE_IP=0/0: every simulated user
# comes from 127.0.0.1, and a per-IP limit would count them all as one client (the wrong-password
# users would lock that address out, and every later login would be a 429). The per-account
# limits stay on. Reports and the server log go to the git-ignored reports/.
LOCUST_USERS ?= 20
LOCUST_SPAWN_RATE ?= 5
LOCUST_RUN_TIME ?= 60s
LOCUST_CLASSES ?= MixedUser
LOCUST_SEED_USERS ?= 1000
LOADTEST_DATABASE ?= authsite_loadtest
LOADTEST_REDIS_URL ?= redis://127.0.0.1:6379/14

loadtest: venv
	$(PY) -m loadtests.loadtest --users $(LOCUST_USERS) --spawn-rate $(LOCUST_SPAWN_RATE) \
		--run-time $(LOCUST_RUN_TIME) --seed-users $(LOCUST_SEED_USERS) --database $(LOADTEST_DATABASE) \
		--redis $(LOADTEST_REDIS_URL) $(LOCUST_CLASSES)

# Benchmark: starts its own server, database (authsite_bench), Redis db 15 and Celery worker,
# measures, stops them, prints the table and rewrites its own section of docs/benchmarks.md
# (between the bench:start / bench:end markers). Needs wrk and taskset: when one is missing it
# prints the apt-get command and stops. BENCH_SECONDS = length of each of its ~16 measurements
# (default: 3 runs, about 12 minutes).
BENCH_SECONDS ?= 10
# Whole runs; each table row is the run with the median ratio (a shared machine drifts between runs).
BENCH_RUNS ?= 3
BENCH_ARGS ?=

bench: venv
	$(PY) -m loadtests.bench --seconds $(BENCH_SECONDS) --runs $(BENCH_RUNS) $(BENCH_ARGS)

# Migration benchmark: import rate of BENCH_ROWS generated legacy rows, and wrap throughput with
# a Celery worker of concurrency = cores against the Argon2 limit of the same run. Own database
# (authsite_bench_migration) and Redis db 13; rewrites its section of docs/benchmarks.md.
BENCH_ROWS ?= 100000
BENCH_WRAP_USERS ?= 2000

bench-migration: venv
	$(PY) -m loadtests.migration_bench --rows $(BENCH_ROWS) --wrap-users $(BENCH_WRAP_USERS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var reports
