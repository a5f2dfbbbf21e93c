#!/usr/bin/env bash
# CardDAV first-sync and re-sync benchmark: crmsync vs vdirsyncer, on one
# Radicale, in one run (see bench/README.md). Slow (Radicale's cost per PUT
# grows with the book): about 20 minutes for 3,000 contacts. Not for CI.
#
#   bench/carddav.sh [N]          N contacts, default 3000
#   BENCH_WRITE_README=1 bench/carddav.sh   also replaces the table in bench/README.md
set -euo pipefail

N=${1:-3000}
cd "$(dirname "$0")/.."
for prog in radicale vdirsyncer curl python3 go; do
	command -v "$prog" >/dev/null || { echo "missing $prog (apt-get install radicale vdirsyncer curl python3)" >&2; exit 1; }
done

WORK=$(mktemp -d)
RADICALE_PID=
cleanup() {
	[ -n "$RADICALE_PID" ] && kill "$RADICALE_PID" 2>/dev/null && wait "$RADICALE_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
load() { cut -d' ' -f1 /proc/loadavg; }
since() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

go build -o "$WORK/carddavbench" ./bench/carddavbench

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ROOT="http://127.0.0.1:$PORT"
cat >"$WORK/radicale.conf" <<EOF
[server]
hosts = 127.0.0.1:$PORT
[auth]
type = none
[storage]
filesystem_folder = $WORK/radicale-data
[rights]
type = owner_only
[logging]
level = warning
EOF
radicale --config "$WORK/radicale.conf" >"$WORK/radicale.log" 2>&1 &
RADICALE_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "$ROOT/" && break; sleep 0.1; done

mkbook() {
	curl -sf -u alice:x -X MKCOL -H 'Content-Type: application/xml' --data \
		'<?xml version="1.0"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>' \
		"$ROOT/alice/$1/" >/dev/null
}
mkbook put
mkbook vdir
mkbook crm

echo "generating $N cards" >&2
"$WORK/carddavbench" gen -dir "$WORK/cards" -n "$N"

echo "1/3 plain PUT loop" >&2
L_PUT0=$(load)
PUT=$("$WORK/carddavbench" putloop -url "$ROOT/alice/put/" -dir "$WORK/cards" | awk '$1=="putloop"{print $2}')
L_PUT1=$(load)

echo "2/3 vdirsyncer" >&2
mkdir -p "$WORK/vdir-status"
cat >"$WORK/vdirsyncer.conf" <<EOF
[general]
status_path = "$WORK/vdir-status/"

[pair bench]
a = "bench_local"
b = "bench_remote"
collections = null
conflict_resolution = "a wins"

[storage bench_local]
type = "filesystem"
path = "$WORK/cards/"
fileext = ".vcf"

[storage bench_remote]
type = "carddav"
url = "$ROOT/alice/vdir/"
username = "alice"
password = "x"
EOF
vdirsyncer -c "$WORK/vdirsyncer.conf" discover >"$WORK/vdir-discover.log" 2>&1 </dev/null
L_VDIR0=$(load)
t=$(now); vdirsyncer -c "$WORK/vdirsyncer.conf" sync >"$WORK/vdir-sync1.log" 2>&1; VDIR_FIRST=$(since "$t")
L_VDIR1=$(load)
t=$(now); vdirsyncer -c "$WORK/vdirsyncer.conf" sync >"$WORK/vdir-sync2.log" 2>&1; VDIR_RESYNC=$(since "$t")

echo "3/3 crmsync" >&2
L_CRM0=$(load)
"$WORK/carddavbench" crmsync -url "$ROOT/alice/crm/" -n "$N" -db "$WORK/crm.db" >"$WORK/crmsync.out"
L_CRM1=$(load)
CRM_FIRST=$(awk '$1=="crmsync_first"{print $2}' "$WORK/crmsync.out")
CRM_RESYNC=$(awk '$1=="crmsync_resync"{print $2}' "$WORK/crmsync.out")
CRM_CHANGES=$(awk '$1=="crmsync_changes"{print $2}' "$WORK/crmsync.out")

count() { find "$WORK/radicale-data/collection-root/alice/$1" -maxdepth 1 -name '*.vcf' | wc -l; }
ratio() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / max(float(sys.argv[2]), 1e-9)))" "$1" "$2"; }

TABLE=$(cat <<EOF
Run of $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $N contacts, Radicale $(radicale --version), vdirsyncer $(vdirsyncer --version | awk '{print $3}'), $(go version | awk '{print $3}').

| run | wall time (s) | cards in book | machine load (1-min avg) before → after |
|---|---:|---:|---|
| plain PUT loop, one client, sequential (the bound) | $PUT | $(count put) | $L_PUT0 → $L_PUT1 |
| vdirsyncer first sync, folder → empty book | $VDIR_FIRST | $(count vdir) | $L_VDIR0 → $L_VDIR1 |
| vdirsyncer re-sync, nothing changed | $VDIR_RESYNC | | |
| crmsync first sync, CRM → empty book (engine cycle) | $CRM_FIRST | $(count crm) | $L_CRM0 → $L_CRM1 |
| crmsync re-sync, nothing changed (engine cycle) | $CRM_RESYNC | | |
| of which the CardDAV replica's sync-collection call | $CRM_CHANGES | | |

crmsync first sync / PUT bound: $(ratio "$CRM_FIRST" "$PUT")×; vdirsyncer first sync / crmsync first sync: $(ratio "$VDIR_FIRST" "$CRM_FIRST")×; re-sync speed-up over vdirsyncer: $(ratio "$VDIR_RESYNC" "$CRM_RESYNC")×.
EOF
)
echo "$TABLE"
if [ "${BENCH_WRITE_README:-}" = 1 ]; then
	python3 - "$TABLE" <<'PY'
import sys, re
path = "bench/README.md"
text = open(path).read()
start, end = "<!-- carddav-results -->", "<!-- /carddav-results -->"
# Newest run first; earlier runs stay below it.
old = re.search(re.escape(start) + "\n(.*?)" + re.escape(end), text, flags=re.S).group(1)
new = start + "\n" + sys.argv[1] + "\n\n" + old + end
text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: new, text, flags=re.S)
open(path, "w").write(text)
PY
fi
