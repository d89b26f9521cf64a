#!/usr/bin/env bash
# Checkout capacity: `souk load --mix order=100` at increasing rates, each on
# a fresh system for STEP seconds; the highest rate with p99 ≤ 100 ms and
# no error is then held for HOLD to confirm it (stepping down 10 % until it
# holds). Writes JSON and a latency-vs-rate picture (SVG).
#
#   bash bench/checkout.sh
#   RATES="100 200 300" STEP=20s HOLD=60s bash bench/checkout.sh
#
# MIX sets the journeys (default order=100: checkout only); MIX=default
# runs souk load's default mix (browse, search, product page, log in, sign
# up, order), e.g. MIX=default RATES="500 1000 2000" P99_MAX=50.
#
# Each fresh system first runs WARMUP (default 10s, 0 for none) of the same
# load at the same rate, unmeasured but reported: the first seconds after
# start pay one-time costs (connections, prepared statements, caches, heaps
# growing) that a system serving for a while does not.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
RATES=${RATES:-"100 200 250 300 350 400 500"}
STEP=${STEP:-30s}
HOLD=${HOLD:-60s}
WARMUP=${WARMUP:-10s}
P99_MAX=${P99_MAX:-100}
MIX=${MIX:-order=100}
ADDR=${ADDR:-127.0.0.1:18440}
OUT=${OUT:-bench/out/checkout-$(date +%Y%m%d-%H%M%S)}
bench_build "$OUT"

ticks() { # CPU ticks of the souk up tree: the launcher (and its broker), every service
  local t=0 p
  for p in $1 $(pgrep -P "$1"); do
    t=$(( t + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0) ))
  done
  echo "$t"
}

run() { # rate duration name: one fresh system, a warm-up, one measured load run
  local rate=$1 dur=$2 name=$3 dir="$OUT/$3"
  local mix=$([ "$MIX" = default ] || echo --mix "$MIX")
  "$SOUK" up --quiet --addr "$ADDR" --data "$dir" > "$dir.up.log" 2>&1 &
  local up=$!
  wait_ready "$dir.up.log" "$up" || { kill -TERM $up 2>/dev/null; wait $up; exit 1; }
  if [ "$WARMUP" != 0 ]; then
    # shellcheck disable=SC2086 # mix is two words or none
    "$SOUK" load --gateway "http://$ADDR" $mix --rate "$rate" --duration "$WARMUP" --users 100 --json > "$dir.warmup.json" 2> "$dir.warmup.err" || true
  fi
  # CPU of the system under test over the measured run (its set-up, 100
  # sign-ups, included).
  local t0; t0=$(ticks $up)
  # shellcheck disable=SC2086
  "$SOUK" load --gateway "http://$ADDR" $mix --rate "$rate" --duration "$dur" --users 100 --json > "$dir.json" 2> "$dir.err" || true
  echo $(( $(ticks $up) - t0 )) > "$dir.cputicks"
  kill -TERM $up; wait $up || true
}
for r in $RATES; do run "$r" "$STEP" "step-$r"; done

# passes NAME: the measured run held p99 and neither it nor its warm-up had
# an error (the warm-up's latency is reported, not judged).
passes() {
  python3 - "$OUT/$1" "$P99_MAX" <<'PY'
import json, sys
base, pmax = sys.argv[1], float(sys.argv[2])
d = json.load(open(base + ".json"))
try:
    warm_errors = json.load(open(base + ".warmup.json"))["errors"]
except OSError:
    warm_errors = 0
print(int(d["errors"] == 0 and warm_errors == 0 and d["latency_ms"]["p99"] <= pmax))
PY
}
best=0
for r in $RATES; do [ "$(passes "step-$r")" = 1 ] && [ "$r" -gt "$best" ] && best=$r; done
hold=$best
while [ "$hold" -gt 0 ]; do
  run "$hold" "$HOLD" "hold-$hold"
  ok=$(passes "hold-$hold")
  [ "$ok" = 1 ] && break
  hold=$(( hold * 9 / 10 ))
done

UNIT=orders/s; [ "$MIX" = order=100 ] || UNIT=journeys/s
python3 - "$OUT" "$P99_MAX" "$hold" "$HOLD" "$UNIT" "$MIX" $RATES <<'PY'
import json, sys
out, pmax, hold, holddur, unit, mix, *rates = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], *sys.argv[7:]
hz = 100
rows = []
for r in rates:
    d = json.load(open(f"{out}/step-{r}.json"))
    ticks = int(open(f"{out}/step-{r}.cputicks").read())
    done = d["completed"] - d["errors"]
    try:
        wu = json.load(open(f"{out}/step-{r}.warmup.json"))
        warm = {"errors": wu["errors"], "p99_ms": wu["latency_ms"]["p99"]}
    except (OSError, ValueError):
        warm = None
    rows.append({"rate": int(r), "throughput_rps": round(d["throughput_rps"], 1), "errors": d["errors"], "warmup": warm,
                 "load_cpu_us_per_request": d.get("client_cpu_us_per_request"),
                 "p50_ms": d["latency_ms"]["p50"], "p99_ms": d["latency_ms"]["p99"], "max_ms": d["latency_ms"]["max"],
                 "cpu_ms_per_order": round(ticks / hz * 1000 / done, 2) if done else None})
holdline = ""
res = {"mix": mix, "unit": unit, "p99_target_ms": pmax, "capacity_orders_per_s": hold, "hold": holddur, "steps": rows}
if hold:
    h = json.load(open(f"{out}/hold-{hold}.json"))
    res["hold_result"] = {"errors": h["errors"], "latency_ms": h["latency_ms"], "throughput_rps": h["throughput_rps"]}
    try:
        hw = json.load(open(f"{out}/hold-{hold}.warmup.json"))
        res["hold_warmup"] = {"errors": hw["errors"], "latency_ms": hw["latency_ms"]}
        holdline = (f"hold {hold}: p50 {h['latency_ms']['p50']:.1f} ms, p99 {h['latency_ms']['p99']:.1f} ms, errors {h['errors']}; its warm-up: p99 {hw['latency_ms']['p99']:.1f} ms, errors {hw['errors']}")
    except (OSError, ValueError):
        pass
json.dump(res, open(f"{out}/checkout.json", "w"), indent=2)
print(f"mix {mix}")
print(f"{'rate/s':>7} {'done/s':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'system CPU ms/journey':>22} {'warm-up p99 ms (errors)':>24}")
for x in rows:
    w = f"{x['warmup']['p99_ms']:.1f} ({x['warmup']['errors']})" if x["warmup"] else "-"
    print(f"{x['rate']:7d} {x['throughput_rps']:8.1f} {x['errors']:7d} {x['p50_ms']:8.1f} {x['p99_ms']:8.1f} {x['max_ms']:8.1f} {x['cpu_ms_per_order'] or 0:22.2f} {w:>24}")
print(f"capacity (p99 <= {pmax:.0f} ms, no error, held {holddur}): {hold} {unit}")
if holdline:
    print(holdline)
# The picture: p50 and p99 against the offered rate, log-scale latency.
import math
W, H, L, B, T, R = 640, 360, 60, 40, 30, 20
xs = [x["rate"] for x in rows]; xmax = max(xs) * 1.05
def X(v): return L + (W - L - R) * v / xmax
lo, hi = 1, max(1000, max(x["p99_ms"] for x in rows) * 1.2)
def Y(v): return T + (H - T - B) * (1 - (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="13" font-weight="bold">Latency vs offered rate ({unit}, mix {mix}), log scale</text>']
for v in [1, 10, 100, 1000, 10000]:
    if v <= hi:
        svg.append(f'<line x1="{L}" x2="{W-R}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#ddd"/><text x="{L-6}" y="{Y(v)+4:.1f}" text-anchor="end">{v} ms</text>')
for v in xs:
    svg.append(f'<text x="{X(v):.1f}" y="{H-B+16}" text-anchor="middle">{v}</text>')
svg.append(f'<line x1="{L}" x2="{W-R}" y1="{Y(pmax):.1f}" y2="{Y(pmax):.1f}" stroke="#888" stroke-dasharray="4 3"/><text x="{W-R}" y="{Y(pmax)-4:.1f}" text-anchor="end" fill="#555">p99 target {pmax:.0f} ms</text>')
for key, color in (("p50_ms", "#1f6fb2"), ("p99_ms", "#c0392b")):
    pts = " ".join(f"{X(x['rate']):.1f},{Y(x[key]):.1f}" for x in rows)
    svg.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
    for x in rows:
        svg.append(f'<circle cx="{X(x["rate"]):.1f}" cy="{Y(x[key]):.1f}" r="3" fill="{color}"/>')
svg.append(f'<text x="{L+10}" y="{T+14}" fill="#1f6fb2">p50</text><text x="{L+40}" y="{T+14}" fill="#c0392b">p99</text>')
svg.append(f'<text x="{(L+W-R)/2:.0f}" y="{H-6}" text-anchor="middle">offered rate ({unit})</text></svg>')
open(f"{out}/checkout.svg", "w").write("\n".join(svg))
PY
