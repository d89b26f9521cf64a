#!/usr/bin/env bash
# Event lag, ORDER_PLACED commit → confirmation email stored (docs/benchmarks.md, "Event lag").
#
# Two measurements, interleaved per round:
#   isolated  bench/eventlag (Go): the event path alone at ISO_RATE orders/s —
#             embedded broker, the outbox relay (mode outbox) or direct
#             publishes (mode direct), and the notification service's own
#             consumers and SQLite store; exact ns timings.
#   system    `souk up` + `souk load --mix order=100` at each rate of RATES;
#             after the run the lag is computed exactly per order from the
#             databases (read directly: order_events.created_at of
#             ORDER_PLACED and messages.created_at, both in ms), and the
#             souk_event_lag_seconds histogram is scraped from the
#             notification instances' /metrics for comparison.
#
#   bash bench/eventlag.sh                         # 3 rounds, rates 100 and 500, 60 s each
#   ROUNDS=1 RATES=200 DURATION=20s bash bench/eventlag.sh
#   SKIP_SYSTEM=1 bash bench/eventlag.sh           # isolated only
#
# A rate counts as sustained when the load had no errors or drops, kept 95 %
# of the asked throughput and left no order pending.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
RATES=${RATES:-100 500}
DURATION=${DURATION:-60s}
ISO_RATE=${ISO_RATE:-500}
ISO_DURATION=${ISO_DURATION:-30s}
ISO_MODES=${ISO_MODES:-direct outbox}
SETTLE=${SETTLE:-5}               # seconds after the load for the last events
ADDR=${ADDR:-127.0.0.1:18470}
OUT=${OUT:-bench/out/eventlag-$(date +%Y%m%d-%H%M%S)}
SKIP_SYSTEM=${SKIP_SYSTEM:-}
SKIP_ISOLATED=${SKIP_ISOLATED:-}

bench_lock

mkdir -p "$OUT"
bench_build "$OUT"
go build -o "$OUT/eventlag" ./bench/eventlag
echo "eventlag: results in $OUT" >&2

up=
stop_up() {
  if [ -n "$up" ]; then kill "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; up=; fi
}
trap stop_up EXIT

run_system() { # rate round
  local rate=$1 round=$2 dir="$OUT/system-$1-r$2"
  mkdir -p "$dir"
  "$SOUK" up --quiet --addr "$ADDR" --data "$dir/data" > "$dir/up.log" 2>&1 &
  up=$!
  wait_ready "$dir/up.log" "$up" 600 || exit 1
  "$SOUK" load --gateway "http://$ADDR" --mix order=100 --rate "$rate" --duration "$DURATION" --json \
    > "$dir/load.json" 2> "$dir/load.err" || true
  sleep "$SETTLE"
  "$SOUK" status --gateway "http://$ADDR" --json > "$dir/status.json" 2> "$dir/status.err" || true
  "$OUT/eventlag" scrape "$dir" || echo "eventlag: scrape failed; no histogram for $dir" >&2
  stop_up
  "$OUT/eventlag" system "$dir" "$rate"
}

for round in $(seq 1 "$ROUNDS"); do
  if [ -z "$SKIP_ISOLATED" ]; then
    for mode in $ISO_MODES; do
      "$OUT/eventlag" isolated --mode "$mode" --rate "$ISO_RATE" --duration "$ISO_DURATION" --json "$OUT/isolated-$mode-r$round.json"
    done
  fi
  if [ -z "$SKIP_SYSTEM" ]; then
    for rate in $RATES; do
      run_system "$rate" "$round"
    done
  fi
done

"$OUT/eventlag" summary "$OUT" | tee "$OUT/summary.txt"
