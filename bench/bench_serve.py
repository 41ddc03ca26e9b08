#!/usr/bin/env python3
"""`trit serve` against llama.cpp's OpenAI-compatible server (llama-cpp-python
0.3.36, `python3 -m llama_cpp.server`) on the same model, same threads, one
run (make bench; not a test).

usage: bench_serve.py --trit build/trit --gguf MODEL.gguf [--hf DIR]
                      [--clients 1,2,4,8] [--requests-per-client 4]
                      [--max-tokens 64] [--threads 2] [--parallel 8]
                      [--json PATH]

llama.cpp serves MODEL.gguf; trit serves DIR when --hf is given (e.g. the
GGUF imported with `trit import`, fp32 weights), else the same GGUF. The
header says which file each one runs.

One server runs at a time: started, warmed up with one short request,
measured at every concurrency, stopped. At concurrency c, c threads each send
--requests-per-client streaming chat completions one after another (greedy:
temperature 0; llama.cpp also gets repeat_penalty 1, its default being 1.1;
distinct prompts from a fixed list; max_tokens N; no ignore_eos, so a request
may stop early at the end-of-turn token: the table shows the mean completion
tokens per request). Per request: time to first token (the first chunk with
content, from the request being sent) and completion tokens (the usage chunk
with stream_options.include_usage where the server sends one, else the number
of content chunks). Per row: aggregate tok/s = all completion tokens / wall
time from the first request sent to the last one finished; TTFT p50 and p99
(nearest rank; with few requests p99 is the slowest one).

trit serve runs with --parallel 8 (continuous batching) and OMP_NUM_THREADS;
llama-cpp-python's server with n_threads = n_threads_batch = threads,
n_ctx 2048 and interrupt_requests off (its default cuts a streaming answer
short when another request arrives); it answers one request at a time.
It loads models without llama.cpp's repacked buffer types
(tools/reference/llama_cpp_plain.py), as bench_vs_llama.py does.
"""
import argparse
import http.client
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PROMPTS = [
    "Explain in a few sentences why the sky is blue.",
    "What is the difference between a virus and a bacterium?",
    "Write a short poem about the sea at night.",
    "Give three tips for learning a new language.",
    "How does a refrigerator keep food cold?",
    "Describe the water cycle to a ten-year-old.",
    "What are the main causes of the seasons on Earth?",
    "Summarize the plot of a classic fairy tale of your choice.",
    "Why do cats purr?",
    "List some healthy breakfast ideas and say why they are healthy.",
    "How do airplanes stay in the air?",
    "What is photosynthesis?",
    "Write a friendly email inviting a colleague to lunch.",
    "Explain what a computer's memory is used for.",
    "What should I pack for a weekend hiking trip?",
    "How do vaccines work?",
    "Describe a busy market in a small town.",
    "What is the tallest mountain in the world and how was it measured?",
    "Give me a simple recipe for tomato soup.",
    "Why is exercise good for the brain?",
    "Explain the rules of chess in a few sentences.",
    "What makes a good story?",
    "How do bees make honey?",
    "Write a short dialogue between a robot and a child.",
    "What is the difference between weather and climate?",
    "How can I improve my sleep?",
    "Explain gravity in simple words.",
    "Describe your ideal city park.",
    "What is a black hole?",
    "Give advice to someone starting their first job.",
    "Why do leaves change colour in autumn?",
    "How does the internet send a message from one computer to another?",
]

INSTALL_EXTRAS = ("python3 -m pip install 'uvicorn>=0.22.0' 'fastapi>=0.100.0' 'pydantic-settings>=2.0.1' "
                  "'sse-starlette>=1.6.1' 'starlette-context>=0.3.6,<0.4' 'PyYAML>=5.1'"
                  "  (llama-cpp-python's [server] extras; llama-cpp-python itself is not rebuilt)")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(msg):
    print("bench_serve: " + msg, file=sys.stderr)
    sys.exit(2)


class Server:
    """A server process: started, waited for, stopped. Its output goes to a file."""

    def __init__(self, name, cmd, env, log):
        self.name, self.log_path = name, log
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL)
        self.port = None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def died(self, what):
        self.stop()
        fail("%s %s; its last output:\n%s" % (self.name, what, self.log_tail()))

    def wait_ready(self, timeout, find_port=None):
        """find_port: parses the port from the log (trit); else self.port is set and
        /v1/models is polled until it answers 200."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.died("exited with status %d before it was ready" % self.proc.returncode)
            if find_port and self.port is None:
                self.port = find_port(self.log_tail(200))
            if self.port is not None:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    c.request("GET", "/v1/models")
                    r = c.getresponse()
                    r.read()
                    c.close()
                    if r.status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        self.died("was not ready after %d s" % timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_trit(a, model, log):
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads))
    cmd = [a.trit, "serve", "--model", model, "--parallel", str(a.parallel), "--port", "0"]
    s = Server("trit serve", cmd, env, log)

    def find_port(text):
        m = re.search(r"trit serve: listening on http://127\.0\.0\.1:(\d+)", text)
        return int(m.group(1)) if m else None

    s.wait_ready(a.startup_timeout, find_port)
    return s


def start_llama(a, log):
    port = free_port()
    plain = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference")
    # python3 -m llama_cpp.server, with llama_cpp_plain imported first when the project has it
    boot = ("import os, sys, runpy\n"
            "p = %r\n"
            "if os.path.exists(os.path.join(p, 'llama_cpp_plain.py')):\n"
            "    sys.path.insert(0, p); import llama_cpp_plain\n"
            "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n" % plain)
    cmd = [sys.executable, "-c", boot, "--model", a.gguf, "--n_threads", str(a.threads),
           "--n_threads_batch", str(a.threads), "--n_ctx", "2048", "--host", "127.0.0.1", "--port", str(port),
           "--interrupt_requests", "False", "--verbose", "False"]
    s = Server("llama.cpp server (llama-cpp-python)", cmd, dict(os.environ), log)
    s.port = port
    s.wait_ready(a.startup_timeout)
    return s


def chat(port, prompt, max_tokens, extra):
    """One streaming chat completion: (ttft s, completion tokens, counted by, error or None)."""
    body = {"model": "bench", "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    body.update(extra)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    ttft, chunks, usage = None, 0, None
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json", "Accept": "text/event-stream"})
        r = conn.getresponse()
        if r.status != 200:
            return None, 0, None, "HTTP %d: %s" % (r.status, r.read(300).decode("utf-8", "replace"))
        while True:
            line = r.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue  # blank separators, SSE comments (pings)
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            ev = json.loads(data)
            if ev.get("usage"):
                usage = ev["usage"].get("completion_tokens")
            for ch in ev.get("choices") or []:
                if (ch.get("delta") or {}).get("content"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - t0
    except (OSError, http.client.HTTPException, ValueError) as e:
        return ttft, chunks, None, "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()
    if usage is not None:
        return ttft, usage, "usage", None
    return ttft, chunks, "chunks", None


def pct(xs, p):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(1, -(-p * len(xs) // 100))  # ceil(p/100 * n)
    return xs[int(k) - 1]


def measure(server, clients, a, extra):
    results, lock = [], threading.Lock()

    def client(j):
        for i in range(a.requests_per_client):
            prompt = PROMPTS[(j * a.requests_per_client + i) % len(PROMPTS)]
            r = chat(server.port, prompt, a.max_tokens, extra)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client, args=(j,)) for j in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = [r for r in results if r[3] is None]
    errors = [r[3] for r in results if r[3] is not None]
    toks = sum(r[1] for r in ok)
    ttfts = [r[0] for r in ok if r[0] is not None]
    counted = sorted({r[2] for r in ok})
    return {"clients": clients, "requests": len(results), "errors": len(errors), "first_error": errors[0] if errors
            else None, "completion_tokens": toks, "tokens_per_request": toks / len(ok) if ok else 0.0,
            "tokens_counted_by": "+".join(counted), "wall_s": wall, "tok_s": toks / wall if wall > 0 else 0.0,
            "ttft_p50_ms": 1e3 * pct(ttfts, 50), "ttft_p99_ms": 1e3 * pct(ttfts, 99)}


def run_server(kind, a, clients_list, model, logdir):
    log = os.path.join(logdir, kind + ".log")
    if kind == "trit":
        srv, extra = start_trit(a, model, log), {}
    else:
        srv, extra = start_llama(a, log), {"repeat_penalty": 1.0}
    rows = []
    try:
        w = chat(srv.port, "Say hello.", 4, extra)  # warm-up: pages the weights in
        if w[3] is not None:
            srv.died("failed the warm-up request (%s)" % w[3])
        for c in clients_list:
            r = measure(srv, c, a, extra)
            r["server"] = "trit" if kind == "trit" else "llama.cpp"
            rows.append(r)
            print("  %s, %d clients: %.1f tok/s%s" % (r["server"], c, r["tok_s"],
                  "" if not r["errors"] else ", %d failed requests (%s)" % (r["errors"], r["first_error"])),
                  file=sys.stderr, flush=True)
    finally:
        srv.stop()
    return rows


def llama_server_importable():
    p = subprocess.run([sys.executable, "-c", "import llama_cpp.server.app"], capture_output=True, text=True)
    if p.returncode == 0:
        return None
    lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
    return lines[-1] if lines else "import failed"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--gguf", required=True, help="the model llama.cpp serves (and trit, without --hf)")
    ap.add_argument("--hf", help="the model directory trit serves instead of the GGUF")
    ap.add_argument("--clients", default="1,2,4,8")
    ap.add_argument("--requests-per-client", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=8, help="trit serve --parallel")
    ap.add_argument("--startup-timeout", type=int, default=300)
    ap.add_argument("--json", help="also write the table here")
    a = ap.parse_args()
    try:
        clients_list = [int(x) for x in a.clients.split(",") if x.strip()]
    except ValueError:
        fail("--clients takes a comma-separated list of integers, e.g. 1,2,4,8")
    if not clients_list or min(clients_list) < 1 or a.requests_per_client < 1 or a.max_tokens < 1:
        fail("--clients, --requests-per-client and --max-tokens must be positive")
    if not os.path.isfile(a.gguf):
        fail("no such GGUF: %s" % a.gguf)
    trit_model = a.hf or a.gguf
    if not os.path.exists(trit_model):
        fail("no such model: %s" % trit_model)
    if not (os.path.isfile(a.trit) and os.access(a.trit, os.X_OK)):
        fail("no trit binary at %s (make first)" % a.trit)

    print("CPU: %s (%d cores); threads: %d (trit: OMP_NUM_THREADS, --parallel %d; llama.cpp: n_threads, "
          "one request at a time)" % (cpu_name(), os.cpu_count() or 0, a.threads, a.parallel))
    print("trit serves %s; llama.cpp serves %s" % (trit_model, a.gguf))
    print("streaming chat, greedy, max_tokens %d, %d requests per client, distinct prompts"
          % (a.max_tokens, a.requests_per_client), flush=True)

    missing = llama_server_importable()
    if missing:
        print("llama.cpp server NOT measured: `import llama_cpp.server.app` fails (%s). Install with: %s"
              % (missing, INSTALL_EXTRAS), flush=True)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as logdir:
        rows += run_server("trit", a, clients_list, trit_model, logdir)
        if not missing:
            rows += run_server("llama", a, clients_list, trit_model, logdir)

    base = {r["clients"]: r for r in rows if r["server"] == "llama.cpp"}
    for r in rows:
        b = base.get(r["clients"])
        r["tok_s_ratio"] = r["tok_s"] / b["tok_s"] if b and b["tok_s"] > 0 else None
        r["ttft_p50_ratio"] = r["ttft_p50_ms"] / b["ttft_p50_ms"] if b and b["ttft_p50_ms"] > 0 else None

    print()
    print("%-9s %7s %9s %9s %11s %11s %10s %10s  %s" % ("server", "clients", "tok/s", "tok/req", "TTFT p50 ms",
                                                        "TTFT p99 ms", "tok/s t/l", "p50 t/l", "tokens from"))
    for c in clients_list:
        for r in sorted((r for r in rows if r["clients"] == c), key=lambda r: r["server"] != "llama.cpp"):
            ratio = ("%9.2fx %9.2fx" % (r["tok_s_ratio"], r["ttft_p50_ratio"]) if r["server"] == "trit" and
                     r["tok_s_ratio"] is not None and r["ttft_p50_ratio"] is not None else "%10s %10s" % ("", ""))
            print("%-9s %7d %9.1f %9.1f %11.1f %11.1f %s  %s%s" % (
                r["server"], c, r["tok_s"], r["tokens_per_request"], r["ttft_p50_ms"], r["ttft_p99_ms"], ratio,
                r["tokens_counted_by"] or "-", "" if not r["errors"] else "  %d/%d FAILED: %s" % (
                    r["errors"], r["requests"], r["first_error"])))
    print("t/l: trit / llama.cpp at the same clients (tok/s: higher is better for trit; TTFT: lower is)")

    if a.json:
        out = {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": a.threads, "parallel": a.parallel,
               "trit_model": trit_model, "llama_model": a.gguf if not missing else None,
               "llama_skipped": missing, "max_tokens": a.max_tokens, "requests_per_client": a.requests_per_client,
               "rows": rows}
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    if any(r["errors"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
