# Shared by the bench scripts: source it after cd-ing to the repository.
#
#   . bench/lib.sh
#   bench_lock                 # one measurement at a time on this machine
#   bench_build "$OUT"         # builds souk into $OUT/souk and sets SOUK
#   wait_ready LOG [PID] [TRIES]

# bench_lock waits for, then holds until the script exits, the lock every
# bench script takes, so two measurements never share the cores.
bench_lock() {
  exec 9>/tmp/souk-bench.lock
  flock 9
}

# bench_build makes the folder $1 and builds the souk binary into it; SOUK
# names the binary.
bench_build() {
  mkdir -p "$1"
  go build -o "$1/souk" ./cmd/souk
  SOUK="$1/souk"
}

# wait_ready waits until the `souk up` log $1 says "souk ready", for at
# most TRIES (default 300) tenths of a second, giving up early when the
# process PID (if given) has ended. It prints the log's end and fails when
# the system did not get ready.
wait_ready() {
  local log=$1 pid=${2:-} tries=${3:-300}
  for _ in $(seq 1 "$tries"); do
    grep -q "souk ready" "$log" 2>/dev/null && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  grep -q "souk ready" "$log" 2>/dev/null && return 0
  echo "souk up did not get ready ($log):" >&2
  tail -20 "$log" >&2
  return 1
}

# free_port prints a TCP port on 127.0.0.1 that is free now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
