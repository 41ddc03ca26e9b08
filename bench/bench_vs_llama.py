#!/usr/bin/env python3
"""trit's packed runtime against stock llama.cpp (llama-cpp-python 0.3.36) on
the same GGUF files, same threads, one run (make bench; not a test).

For each GGUF: decode tok/s (greedy continuation of a short prompt, 64
tokens), prompt tok/s (a 512-token prompt, one batch), resident memory of
the whole process after both, and decode as a percentage of the
memory-bandwidth bound: bytes one decode step reads (every weight once, the
tied embedding in full as the LM head; KV cache and activations left out)
over the read bandwidth measured in this run (build/bench_membw).
llama.cpp runs with its defaults for speed (f16 KV cache, its own threads
set to the same count); trit with its f32 KV cache.

Usage: bench_vs_llama.py --trit build/trit --membw build/bench_membw --text FILE GGUF...
       [--threads 2] [--decode 64] [--prompt-tokens 512] [--kernels auto,avx2] [--repeat 3]
Each figure is the best of --repeat runs, the two runtimes alternating (and
the bandwidth the best of as many measurements).
--kernels runs trit once per kernel set (TRIT_QKERNELS), e.g. its AVX2 kernels
on an AVX-512 host; llama.cpp runs as built (its own best kernels).
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time


def llama_child(path, threads, prompt_ids, n_decode):
    """Runs in a fresh process: returns prompt tok/s, decode tok/s, max RSS (bytes)."""
    import llama_cpp
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tools/reference"))
    import llama_cpp_plain  # noqa: F401  (no AMX buffer type: it segfaults on some VMs)
    llm = llama_cpp.Llama(model_path=path, n_ctx=len(prompt_ids) + n_decode + 8, n_batch=len(prompt_ids),
                          n_ubatch=len(prompt_ids), n_threads=threads, n_threads_batch=threads, verbose=False,
                          flash_attn=False)
    llm.eval(prompt_ids[:8])  # warm-up: pages in the weights
    llm.reset()
    t = time.perf_counter()
    llm.eval(prompt_ids)
    t_prompt = time.perf_counter() - t
    llm.reset()
    llm.eval(prompt_ids[:8])
    nxt = int(llm.scores[llm.n_tokens - 1].argmax())
    t = time.perf_counter()
    for _ in range(n_decode):
        llm.eval([nxt])
        nxt = int(llm.scores[llm.n_tokens - 1].argmax())
    t_decode = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return len(prompt_ids) / t_prompt, n_decode / t_decode, rss


def run_llama(path, threads, prompt_ids, n_decode):
    code = ("import json, sys; sys.path.insert(0, %r); import bench_vs_llama as b; "
            "print(json.dumps(b.llama_child(%r, %d, %r, %d)))" % (os.path.dirname(os.path.abspath(__file__)), path,
                                                                  threads, prompt_ids, n_decode))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_trit(trit, path, threads, prompt_text, n_decode, kernels):
    """trit generate twice: the long prompt (prefill tok/s) and a short one (decode tok/s)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if kernels != "auto":
        env["TRIT_QKERNELS"] = kernels

    def gen(prompt, n):
        r = subprocess.run(["/usr/bin/time", "-f", "maxrss %M", trit, "generate", "--model", path, "--prompt", prompt,
                            "--max-tokens", str(n), "--greedy"], capture_output=True, text=True, errors="replace", env=env, check=True)
        return r.stderr

    err = gen(prompt_text, 1)
    prefill = float(re.search(r"prefill:\s+([0-9.]+) tok/s", err).group(1))
    n_prompt = int(re.search(r"prompt tokens:\s+(\d+)", err).group(1))
    err = gen("The history of the city begins", n_decode + 1)
    decode = float(re.search(r"decode:\s+([0-9.]+) tok/s", err).group(1))
    rss = int(re.search(r"maxrss (\d+)", err).group(1)) * 1024
    return prefill, decode, rss, n_prompt


def step_bytes(path):
    """Bytes of every matrix (the embedding counted once, as the LM head reads it)."""
    import gguf
    r = gguf.GGUFReader(path)
    return sum(int(t.n_bytes) for t in r.tensors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ggufs", nargs="+")
    ap.add_argument("--trit", default="build/trit")
    ap.add_argument("--membw", default="build/bench_membw")
    ap.add_argument("--text", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each runtime; the best of them is printed")
    ap.add_argument("--kernels", default="auto",
                    help="trit's kernel sets, comma-separated (auto, avx512, avx2): one row each")
    args = ap.parse_args()
    import llama_cpp
    with open(args.text, encoding="utf-8") as f:
        text = f.read(20000)
    bw = max(float(subprocess.run([args.membw], capture_output=True, text=True, check=True).stdout.split()[0])
             for _ in range(args.repeat))
    print("read bandwidth (bench_membw, %d threads, best of %d): %.1f GB/s" % (args.threads, args.repeat, bw))
    print("%-26s %8s | %9s %9s %6s | %9s %9s %6s | %7s %7s | %s" % (
        "model", "MB/step", "trit dec", "llama dec", "ratio", "trit pp", "llama pp", "ratio", "trit MB", "llama MB",
        "trit decode / bound"))
    for path in args.ggufs:
        vocab = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        ids = vocab.tokenize(text.encode(), add_bos=False)[:args.prompt_tokens]
        prompt = vocab.detokenize(ids).decode("utf-8", errors="ignore")
        ids = vocab.tokenize(prompt.encode(), add_bos=False)
        del vocab
        try:
            nbytes = step_bytes(path)
        except Exception:  # gguf-py 0.19 cannot read Q2_0 files: the file size is within a few KB
            nbytes = os.path.getsize(path)
        # Runs alternate between the runtimes; each figure is the best of
        # --repeat (a shared VM's other tenants slow single runs by up to a third).
        kernel_sets = args.kernels.split(",")
        llama_runs, trit_runs = [], {k: [] for k in kernel_sets}
        for _ in range(args.repeat):
            llama_runs.append(run_llama(path, args.threads, ids, args.decode))
            for kernels in kernel_sets:
                trit_runs[kernels].append(run_trit(args.trit, path, args.threads, prompt, args.decode, kernels))
        l_pp, l_dec, l_rss = (max(r[0] for r in llama_runs), max(r[1] for r in llama_runs), llama_runs[0][2])
        bound = bw * 1e9 / nbytes
        for kernels in kernel_sets:
            runs = trit_runs[kernels]
            t_pp, t_dec, t_rss, n_prompt = max(r[0] for r in runs), max(r[1] for r in runs), runs[0][2], runs[0][3]
            name = os.path.basename(path) + ("" if kernels == "auto" else " [%s]" % kernels)
            print("%-26s %8.1f | %9.1f %9.1f %5.2fx | %9.1f %9.1f %5.2fx | %7.0f %7.0f | %.1f%% of %.0f tok/s" % (
                name, nbytes / 1e6, t_dec, l_dec, t_dec / l_dec, t_pp, l_pp, t_pp / l_pp, t_rss / 1e6,
                l_rss / 1e6, 100 * t_dec / bound, bound))
            if n_prompt != len(ids):
                print("    (trit's prompt: %d tokens, llama.cpp's %d)" % (n_prompt, len(ids)))


if __name__ == "__main__":
    main()
