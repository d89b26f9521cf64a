#!/usr/bin/env bash
# The cost of `souk up --durability strict` (SQLite synchronous=FULL and
# JetStream fsync on every write) against the default: the same checkout
# load on each, interleaved, ROUNDS times. Prints a table and writes JSON.
#
#   bash bench/durability.sh            # 100 orders/s for 30 s, 2 rounds
#   RATE=200 DURATION=60s ROUNDS=3 bash bench/durability.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
RATE=${RATE:-100}
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-2}
ADDR=${ADDR:-127.0.0.1:18410}
OUT=${OUT:-bench/out/durability-$(date +%Y%m%d-%H%M%S)}
bench_build "$OUT"

run() { # mode round
  local mode=$1 round=$2 dir="$OUT/$1-$2"
  "$SOUK" up --quiet --addr "$ADDR" --data "$dir" --durability "$mode" > "$dir.up.log" 2>&1 &
  local up=$!
  wait_ready "$dir.up.log" "$up" || { kill -TERM $up 2>/dev/null; wait $up; exit 1; }
  "$SOUK" load --gateway "http://$ADDR" --mix order=100 --rate "$RATE" --duration "$DURATION" --users 40 --json > "$dir.json" 2> "$dir.err"
  kill -TERM $up; wait $up || true
}
for r in $(seq 1 "$ROUNDS"); do run normal "$r"; run strict "$r"; done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys, statistics as st
out, rounds = sys.argv[1], int(sys.argv[2])
res = {}
for mode in ("normal", "strict"):
    runs = [json.load(open(f"{out}/{mode}-{r}.json")) for r in range(1, rounds + 1)]
    o = [x["steps"]["order"] for x in runs]
    res[mode] = {
        "p50_ms": [x["latency_ms"]["p50"] for x in o], "p99_ms": [x["latency_ms"]["p99"] for x in o],
        "errors": sum(x["errors"] for x in o), "requests": sum(x["requests"] for x in o),
        "throughput_rps": [r["throughput_rps"] for r in runs],
    }
json.dump(res, open(f"{out}/durability.json", "w"), indent=2)
print(f"{'mode':8} {'order p50 ms (median)':>22} {'order p99 ms (median)':>22} {'errors':>7}")
for mode, r in res.items():
    print(f"{mode:8} {st.median(r['p50_ms']):22.2f} {st.median(r['p99_ms']):22.2f} {r['errors']:7d}")
n, s = res["normal"], res["strict"]
print(f"strict/normal p50 ×{st.median(s['p50_ms'])/st.median(n['p50_ms']):.2f}, p99 ×{st.median(s['p99_ms'])/st.median(n['p99_ms']):.2f}")
PY
