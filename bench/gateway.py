"""The measuring half of bench/gateway.sh: wrk against each target in turn,
round-robin, with the CPU time of each process read from /proc around every
run. Writes <out>/gateway.json and prints a table."""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request

PATH = "/.well-known/jwks.json"
AUTH_PATH = "/bench/jwks.json"
TICK = os.sysconf("SC_CLK_TCK")


def proc_tree(pid):
    """pid and all its descendants (nginx's workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def proc_cpu(pid):
    """utime+stime of pid and all its children (nginx's workers), in seconds."""
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except FileNotFoundError:
            pass
    return total / TICK


def proc_io(pid):
    """(read-family syscalls, write-family syscalls, voluntary context
    switches) of pid's tree so far, from /proc/<pid>/io and the threads'
    status. read(2) and writev(2) count; recvfrom(2), which nginx reads
    with, does not."""
    r = w = vcs = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/io") as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
            r, w = r + int(io["syscr"]), w + int(io["syscw"])
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/status") as f:
                    vcs += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", f.read(), re.M).group(1))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return r, w, vcs


def machine_cpu():
    """(busy, steal) seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


def children_cpu():
    """CPU seconds of the finished children of this process (wrk)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_quiet(limit_cores, max_wait):
    """Waits (up to max_wait seconds) until the machine, with no load of
    ours running, is busier than limit_cores no more: others' builds and
    tests share these cores. Returns (seconds waited, last busy cores)."""
    waited, busy = 0, 0.0
    while True:
        b0, _ = machine_cpu()
        time.sleep(1)
        b1, _ = machine_cpu()
        busy = b1 - b0
        if busy <= limit_cores or waited >= max_wait:
            return waited, round(busy, 2)
        waited += 1


def parse_wrk(text):
    def dur(s):
        v, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s).groups()
        return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]

    out = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    out["requests"] = int(m.group(1))
    out["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        out[f"p{pct}_ms"] = round(dur(m.group(1)), 3) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return out


def wrk(url, header, duration, conns, threads):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency"]
    if header:
        cmd += ["-H", header]
    return subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    for f in ("out", "direct", "nginx", "gateway", "evloop", "token", "pprof", "gateway_env"):
        ap.add_argument("--" + f.replace("_", "-"), default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pid", action="append", default=[])
    ap.add_argument("--quiet", type=float, default=0.3, help="wait before a run until the machine is busier than this many cores no more")
    a = ap.parse_args()
    pids = dict(p.split("=") for p in a.pid)
    pids = {k: int(v) for k, v in pids.items()}
    bearer = "Authorization: Bearer " + a.token

    # name: (url, header, the proxy process whose CPU per request is reported)
    targets = {
        "direct": (a.direct + PATH, "", "auth"),
        "nginx": (a.nginx + PATH, "", "nginx"),
        "gateway": (a.gateway + PATH, "", "gateway"),
        "nginx-auth": (a.nginx + PATH, bearer, "nginx"),
        "gateway-auth": (a.gateway + AUTH_PATH, bearer, "gateway"),
    }
    if a.evloop:
        # bench/evloop: the I/O model alone (an event loop per core, no
        # routing, limits or breakers), to show what it is worth.
        targets["evloop"] = (a.evloop + PATH, "", "evloop")
    names = list(targets)

    # Every target answers 200 before anything is measured, then a warm-up.
    for name, (url, header, _) in targets.items():
        req = urllib.request.Request(url, headers=dict([header.split(": ", 1)]) if header else {})
        with urllib.request.urlopen(req, timeout=5) as res:
            if res.status != 200:
                sys.exit(f"{name}: {url} answered {res.status}")
    for name, (url, header, _) in targets.items():
        wrk(url, header, 3, a.conns, a.threads)

    runs = []
    for rnd in range(a.rounds):
        order = names[rnd % len(names):] + names[: rnd % len(names)]
        for name in order:
            url, header, _ = targets[name]
            waited, idle_busy = wait_quiet(a.quiet, 30)
            before = {k: proc_cpu(p) for k, p in pids.items()}
            proxy = targets[name][2]
            io0 = proc_io(pids[proxy]) if proxy in pids else None
            m0, st0, w0 = *machine_cpu(), children_cpu()
            t0 = time.monotonic()
            text = wrk(url, header, a.duration, a.conns, a.threads)
            wall = time.monotonic() - t0
            after = {k: proc_cpu(p) for k, p in pids.items()}
            io1 = proc_io(pids[proxy]) if proxy in pids else None
            m1, st1, w1 = *machine_cpu(), children_cpu()
            r = parse_wrk(text)
            r.update(target=name, round=rnd + 1, wall_s=round(wall, 2))
            r["cpu_us_per_req"] = {k: round((after[k] - before[k]) / r["requests"] * 1e6, 2) for k in pids}
            r["cpu_us_per_req"]["wrk"] = round((w1 - w0) / r["requests"] * 1e6, 2)
            if io0 and name != "direct":
                # System calls and sleeps of the proxy per request.
                r["proxy_per_req"] = dict(zip(("reads", "writes", "voluntary_switches"),
                                              (round((y - x) / r["requests"], 3) for x, y in zip(io0, io1))))
            r["cpu_cores"] = {k: round((after[k] - before[k]) / wall, 2) for k in pids}
            r["cpu_cores"]["wrk"] = round((w1 - w0) / wall, 2)
            ours = sum(after[k] - before[k] for k in pids) + (w1 - w0)
            # What the machine spent that none of the measured processes
            # did (others' builds and tests), and the hypervisor's steal.
            r["machine"] = {"busy_cores": round((m1 - m0) / wall, 2), "other_cores": round((m1 - m0 - ours) / wall, 2),
                            "steal_cores": round((st1 - st0) / wall, 2), "quiet_wait_s": waited, "idle_busy_cores": idle_busy}
            runs.append(r)
            bad = r["non_2xx"] + r["socket_errors"]
            print(f"round {rnd + 1} {name:13s} {r['rps']:9.0f} req/s  p99 {r['p99_ms']} ms  "
                  f"other load {r['machine']['other_cores']:.2f} cores" + (f"  ERRORS {bad}" if bad else ""),
                  file=sys.stderr, flush=True)

    profile = None
    if a.pprof:
        # A separate run: profiling costs the gateway CPU of its own.
        url, header, _ = targets["gateway"]
        prof = os.path.join(a.out, "gateway-cpu.pprof")
        p = subprocess.Popen(["wrk", f"-t{a.threads}", f"-c{a.conns}", f"-d{a.duration + 2}s", url],
                             stdout=subprocess.DEVNULL)
        time.sleep(1)
        urllib.request.urlretrieve(f"http://{a.pprof}/debug/pprof/profile?seconds={a.duration}", prof)
        p.wait()
        url, header, _ = targets["gateway-auth"]
        p = subprocess.Popen(["wrk", f"-t{a.threads}", f"-c{a.conns}", f"-d{a.duration + 2}s", "-H", header, url],
                             stdout=subprocess.DEVNULL)
        time.sleep(1)
        prof_auth = os.path.join(a.out, "gateway-auth-cpu.pprof")
        urllib.request.urlretrieve(f"http://{a.pprof}/debug/pprof/profile?seconds={a.duration}", prof_auth)
        p.wait()
        urllib.request.urlretrieve(f"http://{a.pprof}/debug/pprof/heap", os.path.join(a.out, "gateway-heap.pprof"))
        profile = {"cpu": prof, "cpu_auth": prof_auth}

    def summary(name):
        rs = [r for r in runs if r["target"] == name]
        rps = [r["rps"] for r in rs]
        proxy = targets[name][2]
        return {
            "rps": {"min": min(rps), "median": statistics.median(rps), "max": max(rps)},
            "p99_ms": {"min": min(r["p99_ms"] for r in rs), "median": statistics.median(r["p99_ms"] for r in rs),
                       "max": max(r["p99_ms"] for r in rs)},
            "proxy": proxy,
            "cpu_us_per_req": {k: statistics.median(r["cpu_us_per_req"][k] for r in rs) for k in rs[0]["cpu_us_per_req"]},
            "other_load_cores": statistics.median(r["machine"]["other_cores"] for r in rs),
            "errors": sum(r["non_2xx"] + r["socket_errors"] for r in rs),
            "proxy_per_req": {k: statistics.median(r["proxy_per_req"][k] for r in rs) for k in rs[0]["proxy_per_req"]}
            if "proxy_per_req" in rs[0] else None,
        }

    s = {n: summary(n) for n in names}
    med = {n: s[n]["rps"]["median"] for n in names}
    # Per-round ratios show the spread of the ratio itself.
    def round_ratios(num, den):
        out = []
        for rnd in range(1, a.rounds + 1):
            x = {r["target"]: r["rps"] for r in runs if r["round"] == rnd}
            out.append(round(x[num] / x[den], 3))
        return {"min": min(out), "median": statistics.median(out), "max": max(out), "rounds": out}

    ratios = {
        "gateway/nginx": round_ratios("gateway", "nginx"),
        "gateway-auth/nginx": round_ratios("gateway-auth", "nginx"),
        "gateway-auth/nginx-auth": round_ratios("gateway-auth", "nginx-auth"),
        "nginx/direct": round_ratios("nginx", "direct"),
        "gateway/direct": round_ratios("gateway", "direct"),
    }
    if "evloop" in targets:
        ratios["evloop/nginx"] = round_ratios("evloop", "nginx")
        ratios["gateway/evloop"] = round_ratios("gateway", "evloop")
    result = {
        "method": {"wrk": f"-t{a.threads} -c{a.conns} -d{a.duration}s", "rounds": a.rounds, "path": PATH,
                   "auth_path": AUTH_PATH, "cpus": os.cpu_count(), "gateway_env": a.gateway_env,
                   "limits": "gateway SOUK_GATEWAY_RATE=0 SOUK_GATEWAY_ANON_RATE=0; nginx none"},
        "targets": s, "ratios": ratios,
        "targets_met": {"gateway/nginx >= 1.0": ratios["gateway/nginx"]["median"] >= 1.0,
                        "gateway-auth/nginx >= 0.9": ratios["gateway-auth/nginx"]["median"] >= 0.9},
        "profile": profile, "runs": runs,
    }
    with open(os.path.join(a.out, "gateway.json"), "w") as f:
        json.dump(result, f, indent=2)

    print(f"\n{'target':13s} {'req/s median':>12s} {'(min-max)':>15s} {'p99 ms':>7s} {'proxy us/req':>12s} "
          f"{'auth us/req':>11s} {'wrk us/req':>10s} {'other load':>10s} {'errors':>6s}")
    for n in names:
        x = s[n]
        cpu = x["cpu_us_per_req"].get(x["proxy"], 0) if n != "direct" else 0
        print(f"{n:13s} {x['rps']['median']:12.0f} {x['rps']['min']:7.0f}-{x['rps']['max']:<7.0f} {x['p99_ms']['median']:7.2f} "
              f"{cpu:12.1f} {x['cpu_us_per_req'].get('auth', 0):11.1f} {x['cpu_us_per_req']['wrk']:10.1f} "
              f"{x['other_load_cores']:10.2f} {x['errors']:6d}")
    print(f"\n{'proxy per request':18s} {'reads':>6s} {'writes':>6s} {'sleeps':>6s}   (read(2)/write(2)/writev(2) calls and voluntary context switches; nginx reads with recvfrom(2), not counted)")
    for n in names:
        x = s[n]["proxy_per_req"]
        if x:
            print(f"{n:18s} {x['reads']:6.2f} {x['writes']:6.2f} {x['voluntary_switches']:6.2f}")
    print()
    for k, v in ratios.items():
        print(f"{k:24s} {v['median']:.3f}  (rounds {', '.join(f'{x:.3f}' for x in v['rounds'])})")
    print(f"\ngateway launcher (log pipe) CPU us/req: {s['gateway']['cpu_us_per_req'].get('launcher', 0):.1f}")
    print(f"JSON: {os.path.join(a.out, 'gateway.json')}")
    if profile:
        print(f"profiles: {profile['cpu']} {profile['cpu_auth']}")


if __name__ == "__main__":
    main()
