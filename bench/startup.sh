#!/usr/bin/env bash
# Start-up time and memory of the whole system: `souk up` from a built
# binary to its ready line, ROUNDS times on a fresh data folder each; then
# the memory of every process idle (10 s after ready) and under a load
# (the default journey mix at RATE/s for 30 s). Memory is reported two
# ways: the sum of RSS (counts the shared binary text once per process) and
# the sum of PSS (shares it out: what the system really costs).
#
#   bash bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
ROUNDS=${ROUNDS:-5}
RATE=${RATE:-100}
ADDR=${ADDR:-127.0.0.1:18430}
OUT=${OUT:-bench/out/startup-$(date +%Y%m%d-%H%M%S)}
bench_build "$OUT"

mem() { # prints "rss_mb pss_mb processes" for the launcher and its children
  local up=$1 rss=0 pss=0 n=0
  for p in $up $(pgrep -P "$up"); do
    [ -r /proc/$p/smaps_rollup ] || continue
    r=$(awk '/^Rss:/{print $2}' /proc/$p/smaps_rollup); s=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)
    rss=$((rss + r)); pss=$((pss + s)); n=$((n + 1))
  done
  echo "$((rss / 1024)) $((pss / 1024)) $n"
}

times=()
for r in $(seq 1 "$ROUNDS"); do
  dir="$OUT/data-$r"
  start=$(date +%s%N)
  "$SOUK" up --quiet --addr "$ADDR" --data "$dir" > "$OUT/up-$r.log" 2>&1 &
  up=$!
  until grep -q "souk ready" "$OUT/up-$r.log" 2>/dev/null; do
    kill -0 $up 2>/dev/null || { echo "souk up died"; tail "$OUT/up-$r.log"; exit 1; }
    sleep 0.01
  done
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
  if [ "$r" = "$ROUNDS" ]; then
    sleep 10
    read idle_rss idle_pss procs < <(mem $up)
    "$SOUK" load --gateway "http://$ADDR" --rate "$RATE" --duration 30s --users 20 --json > "$OUT/load.json" 2> "$OUT/load.err" &
    load=$!
    sleep 25
    read load_rss load_pss _ < <(mem $up)
    wait $load
  fi
  kill -TERM $up; wait $up || true
done
python3 - "$OUT" "$idle_rss" "$idle_pss" "$load_rss" "$load_pss" "$procs" "$RATE" "${times[@]}" <<'PY'
import json, statistics as st, sys
out, irss, ipss, lrss, lpss, procs, rate, *times = sys.argv[1:]
times = [int(t) for t in times]
res = {"ready_ms": times, "ready_ms_median": st.median(times), "processes": int(procs),
       "idle_rss_mb": int(irss), "idle_pss_mb": int(ipss), "load_rss_mb": int(lrss), "load_pss_mb": int(lpss), "load_rate": int(rate)}
json.dump(res, open(f"{out}/startup.json", "w"), indent=2)
print(f"ready: median {res['ready_ms_median']} ms (runs {times})")
print(f"memory, {procs} processes: idle RSS {irss} MB, PSS {ipss} MB; under {rate}/s: RSS {lrss} MB, PSS {lpss} MB")
PY
