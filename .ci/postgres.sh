#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback in a new temporary data
# directory and prints the line that points the tests at it:
#   eval "$(bash .ci/postgres.sh)"   # sets CRMSYNC_TEST_POSTGRES and CRMSYNC_TEST_POSTGRES_DIR
# Stop it with: bash .ci/postgres.sh stop "$CRMSYNC_TEST_POSTGRES_DIR"
# PostgreSQL refuses to run as root, so as root the server runs as the
# Debian package's `postgres` user.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	echo "postgres.sh: no PostgreSQL server found (install it with: apt-get install postgresql)" >&2
	exit 1
fi

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

if [ "${1:-}" = stop ]; then
	dir=${2:?postgres.sh stop DIR}
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
	rm -rf "$dir"
	exit 0
fi

dir=$(mktemp -d /tmp/crmsync-pg.XXXXXX)
chmod 0755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
# A free loopback port: ask the kernel for one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_owner "$bindir/initdb" -D "$dir/data" -A trust -U crmsync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
# Many tests each open their own database: allow enough connections.
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
	-o "-h 127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off" start >/dev/null ||
	{ cat "$dir/server.log" >&2; exit 1; }
echo "export CRMSYNC_TEST_POSTGRES='postgres://crmsync@127.0.0.1:$port/postgres?sslmode=disable'"
echo "export CRMSYNC_TEST_POSTGRES_DIR='$dir'"
