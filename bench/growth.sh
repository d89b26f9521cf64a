#!/usr/bin/env bash
# growth: checkout and my-orders latency on a grown store (1,000,000 orders,
# 100,000 users, written by `souk seed`) against an empty one, side by side,
# interleaved empty/seeded ROUNDS times. Prints a table, writes JSON.
#
# The "empty" store is fresh but for the POOL users the load logs in and
# their orders (the same ORDERS/USERS each as in the big store: 200 users,
# 2,000 orders by default), so that my-orders reads the same pages on both
# and only the size of the store differs. Each round starts `souk up` on a
# fresh copy of its store and runs, with the POOL seeded users logged in:
#   (a) my-orders: --mix my_orders=100 (GET /api/v1/orders, then GET one
#       of them) at RATE journeys/s for DURATION
#   (b) checkout:  --mix order=100 at RATE/s for DURATION
# after an unmeasured warm-up of WARMUP at RATE/2/s of each.
#
# Around each measured run the script reads /proc: the CPU the system
# (the `souk up` process tree) used per journey, and the CPU other
# processes on the machine used meanwhile ("foreign", in cores): a run with
# foreign load is noisy, whatever the store.
#
# The big store is seeded once (about 11 minutes) and cached under
# bench/out/growth-cache; FRESH=1 seeds it again.
#
#   bash bench/growth.sh
#   ROUNDS=3 RATE=100 DURATION=60s USERS=100000 ORDERS=1000000 bash bench/growth.sh
#   USERS=2000 ORDERS=20000 ROUNDS=1 DURATION=10s bash bench/growth.sh   # a quick try
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
USERS=${USERS:-100000}
ORDERS=${ORDERS:-1000000}
POOL=${POOL:-200}
RATE=${RATE:-100}
DURATION=${DURATION:-60s}
WARMUP=${WARMUP:-10s}
ROUNDS=${ROUNDS:-3}
ADDR=${ADDR:-127.0.0.1:18493}
TARGET=${TARGET:-1.20}
OUT=${OUT:-bench/out/growth-$(date +%Y%m%d-%H%M%S)}
CACHE=bench/out/growth-cache/seed-${USERS}u-${ORDERS}o
mkdir -p "$OUT" bench/out/growth-cache
command -v python3 >/dev/null || apt-get install -y python3

if (( POOL > USERS )); then echo "POOL ($POOL) must not exceed USERS ($USERS)" >&2; exit 2; fi
PER_USER=$(( ORDERS / USERS ))
bench_build "$OUT"
git describe --always --dirty > "$OUT/commit.txt" 2>/dev/null || echo unknown > "$OUT/commit.txt"

# cpu PID: "<busy jiffies of the machine> <steal jiffies> <jiffies of PID and
# its descendants>", from /proc.
cpu() {
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
v = list(map(int, open("/proc/stat").readline().split()[1:9]))
busy = sum(v) - v[3] - v[4]  # all but idle and iowait; steal included
kids, own = {}, {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    f = s[s.rfind(")") + 2:].split()
    kids.setdefault(int(f[1]), []).append(int(pid))
    own[int(pid)] = int(f[11]) + int(f[12])
total, todo = 0, [root]
while todo:
    p = todo.pop()
    total += own.get(p, 0)
    todo += kids.get(p, [])
print(busy, v[7], total)
PY
}

# measure NAME DIR UPPID LOAD-ARGS...: one measured `souk load` run, with
# the CPU around it in DIR.NAME.cpu.json.
measure() {
  local name=$1 dir=$2 up=$3; shift 3
  local before after t0 t1
  before=$(cpu "$up"); t0=$(date +%s.%N)
  "$SOUK" load "$@" > "$dir.$name.json" 2> "$dir.$name.err"
  t1=$(date +%s.%N); after=$(cpu "$up")
  python3 - "$dir.$name.json" "$before" "$after" "$t0" "$t1" "$(getconf CLK_TCK)" > "$dir.$name.cpu.json" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
b, a = [list(map(int, x.split())) for x in sys.argv[2:4]]
wall, hz = float(sys.argv[5]) - float(sys.argv[4]), int(sys.argv[6])
busy, steal, system = [(a[i] - b[i]) / hz for i in range(3)]
load = rep.get("client_cpu_us_per_request", 0) * rep.get("completed", 0) / 1e6
arrivals = max(rep.get("arrivals", 0), 1)
json.dump({"wall_s": wall, "system_cores": system / wall, "load_cores": load / wall,
           "foreign_cores": max(busy - system - load, 0) / wall, "steal_cores": steal / wall,
           "system_cpu_ms_per_journey": 1000 * system / arrivals}, sys.stdout)
PY
}

# The stores. A seed that did not finish leaves no .complete and is redone.
if [[ "${FRESH:-0}" == 1 || ! -f "$CACHE/.complete" ]]; then
  rm -rf "$CACHE"
  echo "seeding the big store: $USERS users, $ORDERS orders (cached in $CACHE)"
  "$SOUK" seed --data "$CACHE" --users "$USERS" --orders "$ORDERS" --json > "$OUT/seed-big.json"
  touch "$CACHE/.complete"
else
  echo "reusing the big store in $CACHE"
fi
SMALL="$OUT/small-store"
"$SOUK" seed --data "$SMALL" --users "$POOL" --orders $(( POOL * PER_USER )) --json > "$OUT/seed-small.json" 2> "$OUT/seed-small.err"
du -sh "$SMALL" "$CACHE" | sed 's/^/store size: /'

run() { # kind round
  local kind=$1 round=$2 dir="$OUT/$1-$2" src
  if [[ $kind == empty ]]; then src=$SMALL; else src=$CACHE; fi
  rm -rf "$dir"; mkdir -p "$dir"
  cp -a --reflink=auto "$src/." "$dir/"
  rm -f "$dir/.complete"
  # Plans and timings of the hot queries on the store as the round gets it
  # (migrated as `souk up` would), once per kind.
  if (( round == 1 )); then
    "$SOUK" seed --explain --data "$dir" > "$OUT/explain-$kind.txt"
    "$SOUK" seed --explain --data "$dir" --json > "$OUT/explain-$kind.json"
  fi
  local t0=$SECONDS
  "$SOUK" up --quiet --addr "$ADDR" --data "$dir" > "$dir.up.log" 2>&1 &
  local up=$!
  wait_ready "$dir.up.log" "$up" 3600 || { kill -TERM $up 2>/dev/null || true; wait $up || true; exit 1; }
  echo "$kind round $round: up in $(( SECONDS - t0 ))s"
  local common=(--gateway "http://$ADDR" --users 0 --login-users "$POOL" --json)
  local half; half=$(python3 -c "print($RATE/2)")
  "$SOUK" load "${common[@]}" --mix my_orders=50,order=50 --rate "$half" --duration "$WARMUP" > "$dir.warmup.json" 2> "$dir.warmup.err"
  measure my_orders "$dir" $up "${common[@]}" --mix my_orders=100 --rate "$RATE" --duration "$DURATION"
  measure checkout "$dir" $up "${common[@]}" --mix order=100 --rate "$RATE" --duration "$DURATION"
  kill -TERM $up; wait $up || true
  du -sh "$dir" | sed "s/^/$kind round $round size after: /"
  rm -rf "$dir" # several GB for the big store; the JSON stays
}
for r in $(seq 1 "$ROUNDS"); do run empty "$r"; run seeded "$r"; done

python3 - "$OUT" "$ROUNDS" "$TARGET" "$USERS" "$ORDERS" "$POOL" "$RATE" "$DURATION" <<'PY'
import json, sys, statistics as st
out, rounds, target = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
users, orders, pool, rate, duration = sys.argv[4:9]
steps = [("checkout", "order", "checkout"), ("my-orders list", "my_orders", "my_orders"), ("my-orders get", "my_order", "my_orders")]
res = {"commit": open(f"{out}/commit.txt").read().strip(), "users": int(users), "orders": int(orders), "pool": int(pool), "rate": float(rate), "duration": duration,
       "rounds": rounds, "target_ratio": target, "results": {}}
def spread(xs):
    return {"min": min(xs), "median": st.median(xs), "max": max(xs), "all": xs}
for label, step, run in steps:
    r = {}
    for kind in ("empty", "seeded"):
        docs = [json.load(open(f"{out}/{kind}-{i}.{run}.json")) for i in range(1, rounds + 1)]
        s = [d["steps"].get(step, {"requests": 0, "errors": 0, "latency_ms": {"p50": 0, "p99": 0}}) for d in docs]
        cpu = [json.load(open(f"{out}/{kind}-{i}.{run}.cpu.json")) for i in range(1, rounds + 1)]
        r[kind] = {"p50_ms": spread([x["latency_ms"]["p50"] for x in s]), "p99_ms": spread([x["latency_ms"]["p99"] for x in s]),
                   "requests": sum(x["requests"] for x in s), "errors": sum(x["errors"] for x in s),
                   "errors_by": [d["errors_by"] for d in docs],
                   "system_cpu_ms_per_journey": spread([c["system_cpu_ms_per_journey"] for c in cpu]),
                   "foreign_cores": [round(c["foreign_cores"], 2) for c in cpu]}
    e, g = r["empty"], r["seeded"]
    r["ratio_p50"] = g["p50_ms"]["median"] / e["p50_ms"]["median"] if e["p50_ms"]["median"] else None
    r["ratio_p99"] = g["p99_ms"]["median"] / e["p99_ms"]["median"] if e["p99_ms"]["median"] else None
    r["within_target"] = r["ratio_p99"] is not None and r["ratio_p99"] <= target
    ce, cg = e["system_cpu_ms_per_journey"]["median"], g["system_cpu_ms_per_journey"]["median"]
    r["ratio_cpu"] = cg / ce if ce else None
    res["results"][label] = r
for f in ("big", "small"):
    try:
        res[f"seed_{f}"] = json.load(open(f"{out}/seed-{f}.json"))
    except (OSError, ValueError):
        pass
json.dump(res, open(f"{out}/growth.json", "w"), indent=2)

print(f"\ngrowth: {orders} orders / {users} users vs empty; {pool} seeded users logged in; {rate}/s for {duration}, {rounds} round(s)")
print(f"{'step':15} {'store':7} {'p50 ms min/med/max':>22} {'p99 ms min/med/max':>24} {'requests':>9} {'errors':>7}  {'server CPU ms/journey':>21}  foreign cores by round")
for label, r in res["results"].items():
    for kind in ("empty", "seeded"):
        k = r[kind]; p5, p9, c = k["p50_ms"], k["p99_ms"], k["system_cpu_ms_per_journey"]
        cpu = f"{c['median']:6.2f}" if label != "my-orders get" else "  (in list)"
        print(f"{label:15} {kind:7} {p5['min']:6.2f}/{p5['median']:6.2f}/{p5['max']:6.2f}   {p9['min']:6.2f}/{p9['median']:6.2f}/{p9['max']:6.2f}   {k['requests']:9d} {k['errors']:7d}  {cpu:>21}  {k['foreign_cores']}")
print(f"\n{'step':15} {'seeded/empty p50':>17} {'seeded/empty p99':>17} {'server CPU':>11}  target p99 <= x{target:.2f}")
for label, r in res["results"].items():
    fmt = lambda v: f"x{v:.2f}" if v is not None else "n/a"
    cpu = fmt(r['ratio_cpu']) if label != "my-orders get" else ""
    print(f"{label:15} {fmt(r['ratio_p50']):>17} {fmt(r['ratio_p99']):>17} {cpu:>11}  {'PASS' if r['within_target'] else 'FAIL'}")
print(f"\nJSON: {out}/growth.json")
PY
