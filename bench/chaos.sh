#!/usr/bin/env bash
# The long chaos run of docs/reliability.md: `souk up` with replicas, a mixed
# load (reads and orders) for the whole run, `souk chaos` killing a random
# instance every KILL_EVERY for DURATION, then `souk verify` with the load's
# list of accepted orders. Prints the load report, the kills and the audit.
#
#   bash bench/chaos.sh                 # 5 minutes, a kill every 2 s
#   DURATION=60s bash bench/chaos.sh    # shorter
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-300s}
KILL_EVERY=${KILL_EVERY:-2s}
RATE=${RATE:-60}
MIX=${MIX:-browse=30,product=30,search=10,order=30}
REPLICAS=${REPLICAS:-order=2,inventory=2,payment=2,catalog=2}
ADDR=${ADDR:-127.0.0.1:18400}
OUT=${OUT:-bench/out/chaos-$(date +%Y%m%d-%H%M%S)}
bench_build "$OUT"
secs=${DURATION%s}

"$SOUK" up --quiet --addr "$ADDR" --data "$OUT/data" --replicas "$REPLICAS" > "$OUT/up.log" 2>&1 &
up=$!
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null || true' EXIT
wait_ready "$OUT/up.log" "$up" || exit 1

# Load runs 20 s longer than chaos: calm before, calm after.
"$SOUK" load --gateway "http://$ADDR" --rate "$RATE" --duration "$((secs + 20))s" --mix "$MIX" --users 40 \
  --orders-out "$OUT/orders.jsonl" --out "$OUT/latency.svg" --json > "$OUT/load.json" 2> "$OUT/load.err" &
load=$!
sleep 10
"$SOUK" chaos --gateway "http://$ADDR" --duration "$DURATION" --kill-every "$KILL_EVERY" --json > "$OUT/chaos.json" 2> "$OUT/chaos.log"
wait $load
"$SOUK" verify --gateway "http://$ADDR" --expect "$OUT/orders.jsonl" --wait 120s --json > "$OUT/verify.json" || true

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
load = json.load(open(f"{out}/load.json"))
chaos = json.load(open(f"{out}/chaos.json"))
verify = json.load(open(f"{out}/verify.json"))
reads = [s for s in ("browse", "browse_next", "product", "search") if s in load["steps"]]
rreq = sum(load["steps"][s]["requests"] for s in reads)
rerr = sum(load["steps"][s]["errors"] for s in reads)
o = load["orders"]
summary = {
    "kills": len(chaos["kills"]), "kills_by_service": chaos["by_service"],
    "requests": load["requests"], "errors": load["errors"], "errors_by": load["errors_by"],
    "read_requests": rreq, "read_errors": rerr,
    "read_availability": round(1 - rerr / rreq, 5) if rreq else None,
    "orders_accepted": o["accepted"], "orders_ambiguous": o["ambiguous"],
    "confirmed": verify["summary"]["confirmed"] + verify["summary"]["shipped"],
    "cancelled": verify["summary"]["cancelled"], "pending": verify["summary"]["pending"],
    "lost": verify["summary"]["lost"], "duplicates": verify["summary"]["duplicates"],
    "verify_ok": verify["ok"], "latency_ms": load["latency_ms"],
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
