#!/usr/bin/env bash
# System packages the full test suite needs beyond Python: Debian's chromium (browser tests) and
# a PostgreSQL cluster on 127.0.0.1 (decision-log tests). Idempotent and quiet: anything already
# present is left alone. Source it to get IOTSEC_TEST_POSTGRES_URL exported; run it to print it.
set -euo pipefail

_log=$(mktemp -t iotsec-provision.XXXXXX)
_apt_updated=0

_apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "provision: need root and apt-get to install $*; skipping" >&2
        return 1
    fi
    if [ "$_apt_updated" = 0 ]; then
        apt-get update -qq >"$_log" 2>&1 || { cat "$_log" >&2; return 1; }
        _apt_updated=1
    fi
    echo "provision: apt-get install $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$_log" 2>&1 \
        || { cat "$_log" >&2; return 1; }
}

_pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

provision_chromium() {
    if [ -x /usr/bin/chromium ]; then return 0; fi
    _apt_install chromium
}

provision_postgres() {
    if [ -z "$(_pg_bin)" ]; then
        _apt_install postgresql postgresql-contrib || return 1
    fi
    local version port status
    version=$(basename "$(dirname "$(_pg_bin)")")
    if ! pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v' | grep -q .; then
        pg_createcluster "$version" main >"$_log" 2>&1 || { cat "$_log" >&2; return 1; }
    fi
    read -r _ _ port status _ < <(pg_lsclusters -h | awk -v v="$version" '$1 == v' | head -n 1)
    if [ "$status" != online ]; then
        pg_ctlcluster "$version" main start >"$_log" 2>&1 || { cat "$_log" >&2; return 1; }
    fi
    # A throwaway password, new on every run; the cluster listens on localhost only (Debian default).
    local password
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$port" >"$_log" 2>&1 <<SQL || { cat "$_log" >&2; return 1; }
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iotsec_test') THEN CREATE ROLE iotsec_test LOGIN; END IF;
END \$\$;
ALTER ROLE iotsec_test PASSWORD '$password';
SQL
    if ! runuser -u postgres -- psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = 'iotsec_test'" | grep -q 1; then
        runuser -u postgres -- createdb -p "$port" -O iotsec_test iotsec_test
    fi
    export IOTSEC_TEST_POSTGRES_URL="postgresql+psycopg://iotsec_test:${password}@127.0.0.1:${port}/iotsec_test"
}

provision_all() {
    provision_chromium
    provision_postgres
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    provision_all
    echo "export IOTSEC_TEST_POSTGRES_URL='$IOTSEC_TEST_POSTGRES_URL'"
fi
