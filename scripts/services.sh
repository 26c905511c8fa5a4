#!/usr/bin/env bash
# Make ready the PostgreSQL and Redis that the test URLs name, on this (Debian) machine:
#   1. install the packages that are missing (as root: apt-get; otherwise print the command),
#      Debian's Chromium included (the browser tests drive /usr/bin/chromium; Playwright never
#      downloads a browser),
#   2. start the servers that are stopped,
#   3. let the database role in the URL log in from this machine without a password (a `trust`
#      line for that role on 127.0.0.1/::1 in pg_hba.conf; as root), and create the database.
# `make test` and CI run it every time: when everything already runs it only checks, quickly.
# The URLs are DATABASE_URL / REDIS_URL, else TEST_DATABASE_URL / TEST_REDIS_URL, else the
# Makefile's defaults. Servers on other machines are only checked, never touched.
set -euo pipefail

DB_URL=${DATABASE_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}
CACHE_URL=${REDIS_URL:-${TEST_REDIS_URL:-redis://127.0.0.1:6379/9}}

is_root() { [ "$(id -u)" = 0 ]; }
is_local() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ] || [ "$1" = "::1" ]; }
fail() { echo "services.sh: $*" >&2; exit 1; }
as_postgres() { runuser -u postgres -- "$@"; }

pg_url_re='^postgres(ql)?://([^:@/]+)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?/([^?]+)'
redis_url_re='^rediss?://([^@/]*@)?([^:/?]+)(:([0-9]+))?'
PG=""
if [[ $DB_URL =~ $pg_url_re ]]; then
  PG_USER=${BASH_REMATCH[2]} PG_PASSWORD=${BASH_REMATCH[4]} PG_HOST=${BASH_REMATCH[5]}
  PG_PORT=${BASH_REMATCH[7]:-5432} PG_DB=${BASH_REMATCH[8]}
  PG=yes
elif [[ $DB_URL != sqlite* ]]; then
  fail "cannot read the database URL $DB_URL (expected postgres://USER@HOST:PORT/NAME)"
fi
[[ $CACHE_URL =~ $redis_url_re ]] || fail "cannot read the Redis URL $CACHE_URL"
REDIS_HOST=${BASH_REMATCH[2]} REDIS_PORT=${BASH_REMATCH[4]:-6379}

# --- 1. packages ---
packages=()
if [ -n "$PG" ] && is_local "$PG_HOST"; then
  if ! command -v pg_ctlcluster >/dev/null || ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    packages+=(postgresql)
  fi
fi
if is_local "$REDIS_HOST" && ! command -v redis-server >/dev/null; then
  packages+=(redis-server)
fi
if [ ! -x /usr/bin/chromium ]; then
  packages+=(chromium)
fi
if [ ${#packages[@]} -gt 0 ]; then
  if ! is_root; then
    fail "missing ${packages[*]}; install with:
  sudo apt-get update && sudo apt-get install -y ${packages[*]}
then run this again."
  fi
  echo "installing ${packages[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi

# --- 2. start what is stopped ---
pg_ready() { pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null; }
redis_ready() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

if [ -n "$PG" ] && ! pg_ready; then
  is_local "$PG_HOST" || fail "PostgreSQL at $PG_HOST:$PG_PORT does not answer"
  # The cluster that listens on the URL's port; a new one when there is none.
  cluster=$(pg_lsclusters -h | awk -v port="$PG_PORT" '$3 == port {print $1 " " $2; exit}')
  if [ -z "$cluster" ]; then
    is_root || fail "no PostgreSQL cluster on port $PG_PORT; create one with:
  sudo pg_createcluster $(ls /usr/lib/postgresql | sort -V | tail -1) main -p $PG_PORT --start"
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    name=main
    [ -d "/etc/postgresql/$version/main" ] && name=authsite
    echo "creating PostgreSQL cluster $version/$name on port $PG_PORT"
    pg_createcluster "$version" "$name" -p "$PG_PORT"
    cluster="$version $name"
  fi
  echo "starting PostgreSQL $cluster"
  # Without systemd (containers, CI) pg_ctlcluster starts the server itself.
  # shellcheck disable=SC2086
  pg_ctlcluster --skip-systemctl-redirect $cluster start \
    || fail "could not start PostgreSQL; as root: pg_ctlcluster --skip-systemctl-redirect $cluster start"
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || fail "PostgreSQL $cluster did not come up"
fi

if ! redis_ready; then
  is_local "$REDIS_HOST" || fail "Redis at $REDIS_HOST:$REDIS_PORT does not answer"
  echo "starting Redis on port $REDIS_PORT"
  # No persistence: the tests flush their database anyway.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
  for _ in $(seq 1 30); do redis_ready && break; sleep 0.5; done
  redis_ready || fail "Redis did not come up on port $REDIS_PORT"
fi

# --- 3. the role can log in without a password, and the database exists ---
if [ -n "$PG" ]; then
  export PGCONNECT_TIMEOUT=5
  admin_url="postgres://$PG_USER${PG_PASSWORD:+:$PG_PASSWORD}@$PG_HOST:$PG_PORT/postgres"
  psql_admin() { psql "$admin_url" -X -Atq "$@"; }
  if ! psql_admin -c 'select 1' >/dev/null 2>&1; then
    is_local "$PG_HOST" && [ -z "$PG_PASSWORD" ] \
      || fail "cannot log in to PostgreSQL with $DB_URL"
    hba_line="host all $PG_USER 127.0.0.1/32 trust"
    is_root || fail "role $PG_USER cannot log in without a password; as root, add to the top of
PostgreSQL's pg_hba.conf (sudo -u postgres psql -Atc 'show hba_file'):
  $hba_line
  host all $PG_USER ::1/128 trust
then reload it (sudo -u postgres psql -c 'select pg_reload_conf()') and create the role
(sudo -u postgres createuser --createdb $PG_USER) if it does not exist."
    hba=$(as_postgres psql -p "$PG_PORT" -X -Atqc 'show hba_file')
    if ! grep -qxF "$hba_line" "$hba"; then
      echo "letting PostgreSQL role $PG_USER log in from this machine without a password ($hba)"
      # The first matching line wins, so these go before the distribution's password lines.
      {
        echo "# scripts/services.sh: the test role, password-less from this machine only"
        echo "$hba_line"
        echo "host all $PG_USER ::1/128 trust"
        cat "$hba"
      } > "$hba.new"
      chown --reference="$hba" "$hba.new"
      chmod --reference="$hba" "$hba.new"
      mv "$hba.new" "$hba"
      as_postgres psql -p "$PG_PORT" -X -Atqc 'select pg_reload_conf()' >/dev/null
    fi
    if [ -z "$(as_postgres psql -p "$PG_PORT" -X -Atq -v name="$PG_USER" <<< "select 1 from pg_roles where rolname = :'name'")" ]; then
      echo "creating PostgreSQL role $PG_USER"
      as_postgres createuser -p "$PG_PORT" --createdb "$PG_USER"
    fi
    psql_admin -c 'select 1' >/dev/null || fail "role $PG_USER still cannot log in to PostgreSQL"
  fi
  if [ -z "$(psql_admin -v name="$PG_DB" <<< "select 1 from pg_database where datname = :'name'")" ]; then
    echo "creating database $PG_DB"
    psql_admin -v name="$PG_DB" <<< 'create database :"name"'
  fi
fi
echo "ready:${PG:+ PostgreSQL $PG_HOST:$PG_PORT/$PG_DB,} Redis $REDIS_HOST:$REDIS_PORT"
