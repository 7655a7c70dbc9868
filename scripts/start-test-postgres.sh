#!/usr/bin/env bash
# Makes a throwaway Postgres available on 127.0.0.1 for the registry store's tests and prints the
# line to hand them on stdout:
#   eval "$(bash scripts/start-test-postgres.sh)"
# Everything else goes to stderr so that the eval only ever sees the export. Idempotent: a cluster
# already running in the folder is reused as it is. Env: PGTEST_DIR (default /tmp/modelport-pg),
# PGTEST_PORT (default 55432). Stop it with pg_ctl -D "$PGTEST_DIR/data" stop (as root, prefix
# runuser -u postgres --: the server belongs to that user).
set -euo pipefail

dir="${PGTEST_DIR:-/tmp/modelport-pg}"
port="${PGTEST_PORT:-55432}"
data="$dir/data"
url="postgres://modelport:modelport@127.0.0.1:${port}/postgres"

log() { echo "start-test-postgres: $*" >&2; }

# Newest server binaries first: initdb and pg_ctl must come from the same major version.
find_bindir() {
  local candidate
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return 0
  fi
  return 1
}

if ! bindir="$(find_bindir)"; then
  log "no initdb found; installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y postgresql >&2; then
    apt-get update >&2
    apt-get install -y postgresql >&2
  fi
  bindir="$(find_bindir)" || { log "postgresql installed but initdb still not found"; exit 1; }
fi

# initdb and postgres refuse to run as root, so as root the cluster belongs to the postgres user.
as_owner() {
  if [[ "$(id -u)" == "0" ]]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

# pg_ctl status exits 0 only when a server is running on this data folder.
if [[ -f "$data/PG_VERSION" ]] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "already running in $data"
  echo "export MODELPORT_TEST_POSTGRES_URL=$url"
  exit 0
fi

mkdir -p "$dir"
if [[ "$(id -u)" == "0" ]]; then
  id postgres >/dev/null 2>&1 || { log "no 'postgres' OS user to own the cluster"; exit 1; }
  chown postgres: "$dir"
fi

if [[ ! -f "$data/PG_VERSION" ]]; then
  log "creating cluster in $data with $bindir"
  # fsync off: the data is thrown away, and it makes initdb and every commit much faster.
  as_owner "$bindir/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=trust \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync >&2 \
    || as_owner "$bindir/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=trust \
      --encoding=UTF8 --no-sync >&2
fi

# Loopback only, trust auth (initdb's pg_hba.conf), socket in the cluster folder so no system
# folder such as /var/run/postgresql has to exist or be writable.
log "starting on 127.0.0.1:$port"
as_owner "$bindir/pg_ctl" -D "$data" -w -t 30 -l "$dir/server.log" \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2 || { log "start failed; server log:"; tail -n 30 "$dir/server.log" >&2 || true; exit 1; }

as_owner "$bindir/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >&2 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelport') THEN
    CREATE ROLE modelport LOGIN SUPERUSER PASSWORD 'modelport';
  END IF;
END
$$;
SQL

echo "export MODELPORT_TEST_POSTGRES_URL=$url"
