#!/usr/bin/env python3
"""Reference for trit's calibrated ternary rounding (src/quant/ternary.c
ternary_mse_scale / ternary_project_mse, src/quant/gptq.c ternary_gptq),
written from the method's definition in numpy, float64, without blocking:

  mse   per group of G weights, the scale s minimising sum h_i (w_i - s t_i)^2:
        supports = the k largest |w| (ties: larger h first); for a support S,
        s = sum_S h|w| / sum_S h, gain (sum_S h|w|)^2 / sum_S h; the first k of
        the largest gain wins; s rounded to fp16 (through float32); then
        t = clamp(round_half_even(w / s), -1, 1). h = 1 without weights.
  gptq  H = X^T X (+ damp * mean(diag H) on the diagonal, a zero diagonal
        entry first set to 1 and its column of W zeroed); U = upper Cholesky
        factor of H^-1 (H^-1 = U^T U); columns j = 0..n-1 in order: at a
        group's first column each row's scale is the mse scale (h = 1) of the
        group's current (error-updated) weights; q_j = t * s;
        W[:, j+1:] -= ((W[:, j] - q_j) / U[j, j]) outer U[j, j+1:].

  lowrank  (src/quant/lowrank.c) the rank-r B·A minimising ||(E - B·A) X^T||:
        H = X^T X + damp * mean(diag H) I = L L^T, the SVD E L = U S V^T, and
        B·A = U_r S_r V_r^T L^-1; without X the truncated SVD of E.

  balance  (src/quant/balance.c) for matrices W_k reading one input X, with
        H = X^T X: d_c = the mean of diag(H) over the inputs of class c
        (each input its own class, or o_proj's query-head channels tied to
        their v row); for alpha = 0, 0.1, ..., 1: b_c = d_c^(alpha/2) over
        the geometric mean over live classes (d_c > 0; a dead class 1),
        clamped to [1/32, 32]; err = sum_k tr(E_k H E_k^T), E_k =
        mse(W_k diag(b)) diag(1/b) - W_k (mse unweighted, W_k diag(b) in
        float32); the first alpha of the smallest err wins.

  qep   (src/quant/gptq.c qep_correct) W + alpha W (P - H) A^-1 with
        H = X^T X, P = Xp^T X and A = H + damp mean(diag H) I (a zero
        diagonal entry of H first set to 1 in A).

Writes tests/fixtures/quant/case<k>.bin for a few shapes: a header of int32
magic 'TQNT', rows, cols, group, n (calibration rows), then float32 W
(rows x cols), X (n x cols), and the references: float32 mse (rows x cols,
unweighted), mse_h (weighted by h_i = sum_n x_i^2), gptq (damp 0.01).
and tests/fixtures/quant/lowrank.bin: int32 'TLRK', rows, cols, n, rank,
then float32 E, X, the weighted B·A and the plain one (rows x cols each).
and tests/fixtures/quant/balance<k>.bin: int32 'TBAL', nmat, n, group, n_samples,
n_class (0: untied), heads per kv, head_dim, rows[nmat]; float32 W_k, X; then
float32 alpha, b (n), float64 err (best), err0 (alpha = 0).
and tests/fixtures/quant/qep.bin: int32 'TQEP', rows, cols, n; float32 W, X,
Xp, then float32 W* for alpha 1 and 0.5 (damp 0.01).
Run: python3 tools/reference/make_quant_fixtures.py   (needs numpy)
"""
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "quant")


def fp16(x):
    return float(np.float16(np.float32(x)))


def mse_scale(w, h):
    a = np.abs(w.astype(np.float64))
    order = sorted(range(len(w)), key=lambda i: (-np.float32(a[i]), -np.float32(h[i])))
    num = den = best_gain = best = 0.0
    for i in order:
        num += a[i] * h[i]
        den += h[i]
        if den > 0 and num * num / den > best_gain:
            best_gain, best = num * num / den, num / den
    return fp16(best)


def round_group(w, s):
    if not s > 0:
        return np.zeros_like(w)
    t = np.clip(np.round(np.float32(w) / np.float32(s)), -1, 1)
    return t * s


def project_mse(W, group, h=None):
    Q = np.empty_like(W, dtype=np.float64)
    for r in range(W.shape[0]):
        for g0 in range(0, W.shape[1], group):
            hg = np.ones(group) if h is None else h[g0:g0 + group]
            Q[r, g0:g0 + group] = round_group(W[r, g0:g0 + group], mse_scale(W[r, g0:g0 + group], hg))
    return Q


def gptq(W, X, group, damp):
    W = W.astype(np.float64).copy()
    H = X.astype(np.float64).T @ X.astype(np.float64)
    n = H.shape[0]
    mean = np.mean(np.diag(H))
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += damp * mean * np.eye(n)
    U = np.linalg.cholesky(np.linalg.inv(H)).T
    Q = np.zeros_like(W)
    s = np.zeros(W.shape[0])
    for j in range(n):
        if j % group == 0:
            s = np.array([mse_scale(W[r, j:j + group], np.ones(group)) for r in range(W.shape[0])])
        q = np.array([round_group(W[r, j:j + 1], s[r])[0] for r in range(W.shape[0])])
        e = (W[:, j] - q) / U[j, j]
        W[:, j + 1:] -= np.outer(e, U[j, j + 1:])
        Q[:, j] = q
    return Q


def case(k, rows, cols, group, n, seed):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    W[0, :group] = rng.laplace(size=group).astype(np.float32) * 0.05  # heavy tails in one group
    # Correlated inputs with uneven scales (what makes GPTQ differ from rounding),
    # and one input that is always zero (a dead column).
    mix = rng.standard_normal((cols, cols)) / np.sqrt(cols) + np.eye(cols)
    X = (rng.standard_normal((n, cols)) @ mix * rng.uniform(0.2, 3.0, cols)).astype(np.float32)
    X[:, 3] = 0.0
    h = (X.astype(np.float64) ** 2).sum(axis=0)
    mse = project_mse(W, group)
    mse_h = project_mse(W, group, h)
    gq = gptq(W, X, group, 0.01)
    with open(os.path.join(OUT, f"case{k}.bin"), "wb") as f:
        f.write(struct.pack("<5i", 0x544E5154, rows, cols, group, n))
        for a in (W, X, mse, mse_h, gq):
            f.write(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    print(f"case{k}: {rows} x {cols}, group {group}, {n} calibration rows")


def lowrank(E, X, rank, damp):
    E = E.astype(np.float64)
    L = np.eye(E.shape[1])
    if X is not None:
        H = X.astype(np.float64).T @ X.astype(np.float64)
        L = np.linalg.cholesky(H + damp * np.mean(np.diag(H)) * np.eye(H.shape[0]))
    U, S, Vt = np.linalg.svd(E @ L, full_matrices=False)
    return (U[:, :rank] * S[:rank]) @ Vt[:rank] @ np.linalg.inv(L)


def lowrank_case(rows, cols, n, rank, seed):
    rng = np.random.default_rng(seed)
    E = (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)
    mix = rng.standard_normal((cols, cols)) / np.sqrt(cols) + np.eye(cols)
    X = (rng.standard_normal((n, cols)) @ mix * rng.uniform(0.2, 3.0, cols)).astype(np.float32)
    X[:, 3] = 0.0
    with open(os.path.join(OUT, "lowrank.bin"), "wb") as f:
        f.write(struct.pack("<5i", 0x4B524C54, rows, cols, n, rank))
        for a in (E, X, lowrank(E, X, rank, 0.01), lowrank(E, None, rank, 0.01)):
            f.write(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    print(f"lowrank: {rows} x {cols}, rank {rank}, {n} calibration rows")


def balance(Ws, X, group, tie, n_class):
    H = X.astype(np.float64).T @ X.astype(np.float64)
    n = H.shape[0]
    if tie is None:
        tie, n_class = np.arange(n), n
    d = np.array([np.mean(np.diag(H)[tie == c]) for c in range(n_class)])
    live = d > 0
    best = (np.inf, None, None)
    err0 = None
    for g in range(11):
        alpha = g / 10
        lg = np.zeros(n_class)
        lg[live] = 0.5 * alpha * np.log(d[live])
        mean = lg[live].mean() if live.any() else 0.0
        bc = np.where(live, np.exp(lg - mean), 1.0)
        b = np.clip(bc, 1 / 32, 32)[tie].astype(np.float32)
        err = 0.0
        for W in Ws:
            Q = project_mse((W.astype(np.float32) * b).astype(np.float32), group)
            E = Q / b.astype(np.float64) - W.astype(np.float64)
            err += np.sum((E @ H) * E)
        if g == 0:
            err0 = err
        if err < best[0]:
            best = (err, np.float32(alpha), b)
    return best[1], best[2], best[0], err0


def balance_case(k, rows, n, group, samples, per, hd, seed):
    rng = np.random.default_rng(seed)
    Ws = [(rng.standard_normal((r, n)) * 0.05).astype(np.float32) for r in rows]
    # Inputs of very uneven magnitude (a few loud channels, as in LLMs), correlated, one dead.
    mix = rng.standard_normal((n, n)) / np.sqrt(n) + np.eye(n)
    scale = rng.lognormal(0.0, 1.0, n)
    scale[rng.choice(n, 3, replace=False)] *= 20.0
    X = (rng.standard_normal((samples, n)) @ mix * scale).astype(np.float32)
    X[:, 5] = 0.0
    tie, n_class = None, 0
    if per:
        i = np.arange(n)
        tie, n_class = (i // hd) // per * hd + i % hd, n // per
    alpha, b, err, err0 = balance(Ws, X, group, tie, n_class)
    with open(os.path.join(OUT, f"balance{k}.bin"), "wb") as f:
        f.write(struct.pack("<8i", 0x4C414254, len(rows), n, group, samples, n_class, per, hd))
        f.write(struct.pack(f"<{len(rows)}i", *rows))
        for a in Ws + [X]:
            f.write(np.ascontiguousarray(a, dtype=np.float32).tobytes())
        f.write(struct.pack("<f", alpha))
        f.write(np.ascontiguousarray(b, dtype=np.float32).tobytes())
        f.write(struct.pack("<2d", err, err0))
    print(f"balance{k}: {len(rows)} matrices x {n}, group {group}, tied {n_class}: alpha {alpha}, "
          f"error {err:.6g} against {err0:.6g}")


def qep(W, X, Xp, alpha, damp):
    X, Xp = X.astype(np.float64), Xp.astype(np.float64)
    H = X.T @ X
    P = Xp.T @ X
    A = H.copy()
    dead = np.diag(H) == 0
    A[dead, dead] = 1.0
    A += damp * np.mean(np.diag(H)) * np.eye(H.shape[0])
    W = W.astype(np.float64)
    return W + alpha * (W @ (P - H)) @ np.linalg.inv(A)


def qep_case(rows, cols, n, seed):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    mix = rng.standard_normal((cols, cols)) / np.sqrt(cols) + np.eye(cols)
    Xp = (rng.standard_normal((n, cols)) @ mix * rng.uniform(0.2, 3.0, cols)).astype(np.float32)
    # The converted model's inputs: the parent's, off by a correlated error.
    X = (Xp + 0.3 * rng.standard_normal((n, cols)) @ mix).astype(np.float32)
    X[:, 2] = Xp[:, 2] = 0.0
    with open(os.path.join(OUT, "qep.bin"), "wb") as f:
        f.write(struct.pack("<4i", 0x50455154, rows, cols, n))
        for a in (W, X, Xp, qep(W, X, Xp, 1.0, 0.01), qep(W, X, Xp, 0.5, 0.01)):
            f.write(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    print(f"qep: {rows} x {cols}, {n} calibration rows")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    case(0, 8, 64, 16, 256, 1)
    case(1, 24, 192, 64, 512, 2)
    case(2, 6, 320, 32, 400, 3)
    lowrank_case(40, 96, 300, 6, 4)
    balance_case(0, [24, 8, 8], 64, 16, 300, 0, 0, 5)
    balance_case(1, [20], 64, 32, 300, 2, 16, 6)   # o_proj: 4 query heads of 16 on 2 v rows
    balance_case(2, [40, 40], 96, 32, 500, 0, 0, 7)
    qep_case(24, 80, 400, 8)
