"""`make bench` (`python -m loadtests.bench`): measure authsite against the physical limits of
this machine, in one run.

Starts everything itself (PostgreSQL and Redis made ready as `make test` does, with
scripts/services.sh; a fresh database; the web server with WEB_CONCURRENCY workers; a Celery
worker), measures, stops what it started, prints a table and writes it into its own section of
docs/benchmarks.md. Every figure is a ratio against a limit measured in the same run, so the
result holds on a noisy machine:

- login / signup throughput at saturation ÷ Argon2 verify / hash rate of a bare process with the
  same number of threads on the same cores;
- /me throughput (warm token cache) ÷ /healthz throughput, a trivial `async def` JSON view behind
  the same middleware, URL resolver and decorator, on the same workers (no extra route needed);
- /healthz p99 while 32 connections flood /login in a closed loop (each 503 resent at once) ÷
  max(10 ms, 2 × idle p99), and the event-loop CPU per 503 refusal of that flood (the loop
  thread's CPU, less what the admitted logins cost it);
- /healthz p99 while logins are offered at 2x capacity ÷ /healthz p99 on the idle server;
- median time to a 503 while the hash queue is full (10x overload);
- peak RSS per worker under 10x overload ÷ (idle RSS + HASH_WORKERS × Argon2 memory);
- verified-token cache hit ÷ full Ed25519 verification of the same token;
- the default deployment (one worker per core, the generator on the same cores): login / signup
  throughput ÷ cores × the one-core Argon2 rate, and /me ÷ /healthz.

Load is offered closed-loop by `wrk` with wrk.lua (each connection sends its next request when
the answer arrives), except the probes and the overload runs, whose connections pause between
requests. The server is pinned to --server-cpus; everything else (wrk, probes, Celery, this
program) to --client-cpus with taskset/sched_setaffinity; PostgreSQL and Redis (every process of
theirs) are pinned to --client-cpus for the run and given their affinity back afterwards. The
generator's own CPU use is measured and reported. Missing tools (wrk, taskset) are named with the
command that installs them; nothing is installed from here.

`python -m loadtests.bench.profile` shows where the server core's CPU goes per login and signup.

Modules: config (parameters), machine (/proc and tool checks), argon2_limit and token_micro
(bare-process limits, run as their own programs), wrk (the generator), probes (in-process
samplers), run (one measured run, the combination of runs), report (the table and the file),
profile (the breakdown of a login's CPU).
"""
