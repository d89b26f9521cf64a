#!/usr/bin/env bash
# Where checkout's CPU goes: CPU per order of every process of the system
# (the launcher with its embedded broker, each service, the load generator),
# read from /proc/<pid>/stat over a WINDOW in the middle of a checkout run
# at RATE orders/s on a fresh `souk up`. With VARIANTS it compares settings
# side by side: each variant is a name and the environment `souk up` gets,
# run in interleaved rounds (A, B, A, B, ...) so the machine's noise hits
# them alike. PROFILE=1 also takes a CPU profile of every process over the
# window (slower: profiling costs a few per cent).
#
#   bash bench/cpu.sh
#   RATE=300 ROUNDS=3 VARIANTS="default: one-p:GOMAXPROCS=1" bash bench/cpu.sh
#   PROFILE=1 bash bench/cpu.sh        # then: go tool pprof OUT/<variant>-1/order.pprof
#   VARIANTS="before:SOUK_BIN=/tmp/old/souk after:" bash bench/cpu.sh   # two builds side by side
#   MIX=product=100 RATE=500 bash bench/cpu.sh   # another journey mix: CPU per journey
#
# It also reports the bytes every process sent towards the disk per journey
# (write_bytes of /proc/<pid>/io, counted when a page is dirtied).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
RATE=${RATE:-250}
MIX=${MIX:-order=100}
DURATION=${DURATION:-30}
WINDOW=${WINDOW:-15}
ROUNDS=${ROUNDS:-2}
VARIANTS=${VARIANTS:-"default:"}
PROFILE=${PROFILE:-0}
ADDR=${ADDR:-127.0.0.1:18450}
OUT=${OUT:-bench/out/cpu-$(date +%Y%m%d-%H%M%S)}
bench_build "$OUT"

snap() { # pid name ticks, for the souk up tree and the load generator
  local up=$1 load=$2
  for p in $up $(pgrep -P "$up"); do
    local name
    name=$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | awk '{print ($2 == "serve") ? $3 : "launcher"}')
    echo "$p $name $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0) $(awk '/^write_bytes/{print $2}' /proc/$p/io 2>/dev/null || echo 0)"
  done
  echo "$load load $(awk '{print $14+$15}' /proc/$load/stat 2>/dev/null || echo 0) 0"
}

run() { # variant env round
  local name=$1 env=$2 dir="$OUT/$1-$3" bin=$SOUK kv
  mkdir -p "$dir"
  for kv in $env; do [[ $kv != SOUK_BIN=* ]] || bin=${kv#SOUK_BIN=}; done
  # shellcheck disable=SC2086 # env is a list of KEY=VALUE words
  env $env SOUK_LAUNCHER_PPROF_ADDR=127.0.0.1:0 SOUK_PPROF_ADDR=127.0.0.1:0 \
    "$bin" up --quiet --addr "$ADDR" --data "$dir/data" > "$dir/up.log" 2>&1 &
  local up=$!
  wait_ready "$dir/up.log" "$up" || { kill -TERM $up 2>/dev/null; wait $up; exit 1; }
  sleep 1
  "$SOUK" load --gateway "http://$ADDR" --mix "$MIX" --rate "$RATE" --duration "${DURATION}s" --users 100 --json > "$dir/load.json" 2> "$dir/load.err" &
  local load=$!
  # The window starts after the load's set-up (100 sign-ups and log-ins:
  # argon2id in auth, no orders yet), at its first progress line.
  for _ in $(seq 1 600); do grep -qE '^ +1s +journeys' "$dir/load.err" 2>/dev/null && break; sleep 0.1; done
  sleep $(( (DURATION - WINDOW) / 2 > 1 ? (DURATION - WINDOW) / 2 - 1 : 0 ))
  local profs=()
  if [ "$PROFILE" = 1 ]; then
    { grep -h '"pprof serving"' "$dir"/data/logs/*.log | sed -n 's/.*"service":"\([a-z]*\)".*"addr":"\([0-9.:]*\)".*/\1 \2/p'
      sed -n 's/.*pprof serving.*addr=\([0-9.:]*\).*/launcher \1/p' "$dir/up.log"; } | sort -u \
      > "$dir/pprof.addrs"
    while read -r svc addr; do
      curl -s -o "$dir/$svc.pprof" "http://$addr/debug/pprof/profile?seconds=$WINDOW" &
      profs+=($!)
    done < "$dir/pprof.addrs"
  fi
  snap $up $load > "$dir/cpu0"
  sleep "$WINDOW"
  snap $up $load > "$dir/cpu1"
  wait $load || true
  [ ${#profs[@]} -eq 0 ] || wait "${profs[@]}"
  kill -TERM $up; wait $up || true
}

for r in $(seq 1 "$ROUNDS"); do
  for v in $VARIANTS; do
    run "${v%%:*}" "$(echo "${v#*:}" | tr ',' ' ')" "$r"
  done
done

python3 - "$OUT" "$RATE" "$WINDOW" "$ROUNDS" "$MIX" $VARIANTS <<'PY'
import json, sys
out, rate, window, rounds, mix, *variants = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], *sys.argv[6:]
hz = 100
def ticks(path, col=2):
    t = {}
    for line in open(path):
        f = line.split()
        t[f[1]] = t.get(f[1], 0) + int(f[col])
    return t
res = {"rate": rate, "mix": mix, "window_s": window, "rounds": []}
names = [v.split(":")[0] for v in variants]
for r in range(1, rounds + 1):
    for n in names:
        d = f"{out}/{n}-{r}"
        a, b = ticks(f"{d}/cpu0"), ticks(f"{d}/cpu1")
        per = {k: round((b.get(k, 0) - a[k]) / hz * 1000 / (rate * window), 3) for k in a}
        # Bytes the processes sent towards the disk (/proc/<pid>/io
        # write_bytes, counted when a page is dirtied), per journey.
        wa, wb = ticks(f"{d}/cpu0", 3), ticks(f"{d}/cpu1", 3)
        disk_by = {k: round((wb.get(k, 0) - wa[k]) / 1024 / (rate * window), 1) for k in wa}
        disk_kb = round(sum(disk_by.values()), 1)
        load = json.load(open(f"{d}/load.json"))
        res["rounds"].append({"variant": n, "round": r, "cpu_ms_per_journey": per, "total": round(sum(per.values()), 2), "disk_kb_per_journey": disk_kb, "disk_kb_by_process": disk_by,
                              "errors": load["errors"], "p50_ms": load["latency_ms"]["p50"], "p99_ms": load["latency_ms"]["p99"]})
json.dump(res, open(f"{out}/cpu.json", "w"), indent=1)
procs = sorted({k for x in res["rounds"] for k in x["cpu_ms_per_journey"]}, key=lambda k: -max(x["cpu_ms_per_journey"].get(k, 0) for x in res["rounds"]))
cols = [f'{x["variant"]} r{x["round"]}' for x in res["rounds"]]
unit = "order" if mix == "order=100" else "journey"
print(f"CPU ms per {unit} at {rate:g} {unit}s/s (mix {mix}), over {window:g} s of each run")
w = max(14, max(len(c) for c in cols) + 2)
print(f'{"process":16}' + "".join(f"{c:>{w}}" for c in cols))
for p in procs:
    print(f"{p:16}" + "".join(f'{x["cpu_ms_per_journey"].get(p, 0):{w}.2f}' for x in res["rounds"]))
print(f'{"TOTAL":16}' + "".join(f'{x["total"]:{w}.2f}' for x in res["rounds"]))
print(f'{"disk KB/" + unit:16}' + "".join(f'{x["disk_kb_per_journey"]:{w}.1f}' for x in res["rounds"]))
print(f'{"p50 / p99 ms":16}' + "".join(f'{x["p50_ms"]:.0f} / {x["p99_ms"]:.0f}'.rjust(w) for x in res["rounds"]))
print(f'{"errors":16}' + "".join(f'{x["errors"]:{w}d}' for x in res["rounds"]))
print(f"\n{out}/cpu.json")
PY
