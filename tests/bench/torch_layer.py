#!/usr/bin/env python3
"""The Llama-3.1-70B-shaped decoder layer of `shard-engine bench` in PyTorch, on the same GPU:
per-rank shapes of TP 1/2/4/8 (heads, KV heads and FFN split like Megatron), decode batch
1/8/64 at context 1024 and prefill of 2048 tokens, eager and replayed from a CUDA graph.
Prints one JSON document with the median ms of each case (bf16, compute only)."""
import json
import sys

import torch
import torch.nn.functional as F

H, HEADS, KV, D, FFN, CTX = 8192, 64, 8, 128, 28672, 1024
dev = "cuda"
dt = torch.bfloat16


def median_ms(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def rms(x, w):
    v = x.float()
    return (v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dt) * w


def rotate(x, cos, sin):  # x [B, T, n, d]
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def make_layer(t, batch, T, pos):
    heads, kv, f = HEADS // t, max(1, KV // t), FFN // t
    qw, kw = heads * D, kv * D
    g = torch.Generator(device=dev).manual_seed(0)
    w = lambda *s: (torch.rand(*s, device=dev, generator=g, dtype=torch.float32) * 0.02 - 0.01).to(dt)
    wqkv, wo, wgu, wdown = w(H, qw + 2 * kw), w(qw, H), w(H, 2 * f), w(f, H)
    n1, n2 = torch.ones(H, device=dev, dtype=dt), torch.ones(H, device=dev, dtype=dt)
    kc = torch.zeros(batch, kv, pos + T, D, device=dev, dtype=dt)
    vc = torch.zeros_like(kc)
    x = w(batch * T, H)
    inv = 10000.0 ** (-torch.arange(0, D // 2, device=dev, dtype=torch.float64) * 2 / D)
    ang = torch.arange(pos, pos + T, device=dev, dtype=torch.float64)[:, None] * inv[None]
    cos, sin = ang.cos().to(dt)[None, :, None, :], ang.sin().to(dt)[None, :, None, :]

    def step():
        h = rms(x, n1)
        qkv = h @ wqkv
        q = qkv[:, :qw].view(batch, T, heads, D)
        k = qkv[:, qw:qw + kw].view(batch, T, kv, D)
        v = qkv[:, qw + kw:].view(batch, T, kv, D)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        kc[:, :, pos:pos + T] = k.transpose(1, 2)
        vc[:, :, pos:pos + T] = v.transpose(1, 2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), kc, vc, is_causal=T > 1, enable_gqa=True)
        y = x + a.transpose(1, 2).reshape(batch * T, qw) @ wo
        h = rms(y, n2)
        gu = h @ wgu
        return y + (F.silu(gu[:, :f]) * gu[:, f:]) @ wdown

    return step


def main():
    results = []
    cases = [("decode b1", 1, 1), ("decode b8", 8, 1), ("decode b64", 64, 1), ("prefill 2048", 1, 2048)]
    for name, batch, T in cases:
        for t in (1, 2, 4, 8):
            pos = 0 if T > 1 else CTX
            step = make_layer(t, batch, T, pos)
            with torch.no_grad():
                eager = median_ms(step)
                graph_ms = None
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    for _ in range(3):
                        step()
                torch.cuda.current_stream().wait_stream(s)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    step()
                graph_ms = median_ms(graph.replay)
            results.append({"case": name, "tp": t, "eager_ms": eager, "graph_ms": graph_ms})
            print(f"{name} tp{t}: eager {eager:.3f} ms, graph {graph_ms:.3f} ms", file=sys.stderr)
            del step, graph
            torch.cuda.empty_cache()
    print(json.dumps({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(), "layer": results}, indent=1))


if __name__ == "__main__":
    main()
