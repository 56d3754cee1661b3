"""The line protocol both benchmark workers speak (stdlib only: it runs under a bare Python with
nothing but the runtime layer on the path, and in .venv-baseline).

A worker is started as ``python worker_X.py cold REQUEST`` (one request in a fresh process: print
the timestamps as one JSON line, exit) or ``python worker_X.py serve`` (JSON commands on stdin, one
JSON answer per line on stdout):

    {"cmd": "load", "name": N, "path": P}   prepare request N from file P (not timed)
    {"cmd": "time", "name": N, "n": K}      K timed requests -> {"ms": [...]}  (request -> response)
    {"cmd": "run", "names": [...], "n": K}  K requests cycling over names (untimed)
    {"cmd": "rss"}                          -> {"maxrss_kb": peak RSS of this process, "rss_kb": now}
    {"cmd": "quit"}

Timestamps are ``time.perf_counter()`` (CLOCK_MONOTONIC, one clock for every process on the box),
so the parent can time a cold start from its own spawn call to the child's answer.
"""
import json
import os
import resource
import sys
import time


def _rss_now_kb() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _quiet_stdout(log_path):
    """The services log to stdout; keep those lines out of the protocol channel."""
    proto = sys.stdout
    sys.stdout = open(log_path or os.devnull, "a", encoding="utf-8")
    return proto


def run(t0: float, prepare, import_service, call, extra=None):
    """``prepare(path) -> request``, ``import_service() -> None``, ``call(request) -> (status, body)``;
    ``extra``: {op: fn(request, cmd) -> dict} for stack-specific commands."""
    mode = sys.argv[1]
    proto = _quiet_stdout(os.environ.get("BENCH_WORKER_LOG"))
    if mode == "cold":
        request = prepare(sys.argv[2])
        t_import = time.perf_counter()
        import_service()
        t_imported = time.perf_counter()
        status, body = call(request)
        t_answer = time.perf_counter()
        proto.write(json.dumps({
            "t_start": t0, "t_import": t_import, "t_imported": t_imported, "t_answer": t_answer,
            "status": status, "fake_probability": (body or {}).get("fake_probability"),
            "label": (body or {}).get("label"),
        }) + "\n")
        proto.flush()
        return
    if mode != "serve":
        raise SystemExit(f"unknown mode {mode}")
    import_service()
    requests = {}
    clock = time.perf_counter
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["cmd"]
        if op == "load":
            requests[cmd["name"]] = req = prepare(cmd["path"])
            status, body = call(req)
            out = {"status": status, "fake_probability": (body or {}).get("fake_probability"),
                   "label": (body or {}).get("label"), "timings_ms": (body or {}).get("timings_ms")}
        elif op == "time":
            req = requests[cmd["name"]]
            ms, bad = [], 0
            for _ in range(int(cmd["n"])):
                a = clock()
                status, _body = call(req, parse=False)
                ms.append((clock() - a) * 1000.0)
                bad += status != 200
            out = {"ms": ms, "errors": bad}
        elif op == "run":
            names, bad = cmd["names"], 0
            for i in range(int(cmd["n"])):
                status, _body = call(requests[names[i % len(names)]], parse=False)
                bad += status != 200
            out = {"count": int(cmd["n"]), "errors": bad}
        elif op == "rss":
            out = {"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rss_kb": _rss_now_kb()}
        elif op == "quit":
            break
        elif extra and op in extra:
            out = extra[op](requests[cmd["name"]], cmd)
        else:
            out = {"error": f"unknown command {op}"}
        proto.write(json.dumps(out) + "\n")
        proto.flush()
