#!/usr/bin/env python3
"""Times the plain-PyTorch reference (../shared/bench/musicvae_ref.py's MusicVAE) under PyTorch 2.x, eager and
with torch.compile, on the shapes and threads bench_model takes: the CPU anchors of docs/benchmarks.md.

  .venv-torch2/bin/python tools/bench_reference_torch2.py --ref ../shared/bench/musicvae_ref.py \\
      --bars 4 --enc 256 --z 128 --cond 256 --dec 256 --batch 64 --iters 10 --threads 2 [--flush-denormal]

Prints one JSON line per mode: {"mode": "eager" | "compile", "seq_per_s": ..., "compile_s": ...}.
"""
import argparse
import importlib.util
import json
import time

import torch


def load_reference(path):
    spec = importlib.util.spec_from_file_location("musicvae_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MusicVAE


def time_steps(model, step, data, warmup, iters):
    """Seconds of `iters` training steps after `warmup` (the first warm-up step includes compiling)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step(data)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(iters):
        step(data)
    return time.perf_counter() - t0, first


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ref", required=True, help="path to musicvae_ref.py")
    for name, default in [("vocab", 512), ("enc", 256), ("z", 128), ("cond", 256), ("dec", 256), ("bars", 4),
                          ("steps-per-bar", 16), ("batch", 64), ("iters", 10), ("warmup", 2), ("threads", 2),
                          ("enc-layers", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--modes", default="eager,compile")
    p.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True), as bench_model does")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    MusicVAE = load_reference(a.ref)
    T = a.bars * a.steps_per_bar
    for mode in a.modes.split(","):
        torch.manual_seed(0)
        model = MusicVAE(a.vocab, a.enc, a.z, a.cond, a.dec, a.bars, enc_layers=a.enc_layers)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        forward = torch.compile(model) if mode == "compile" else model
        data = torch.randint(0, a.vocab, (a.batch, T))

        def step(x):
            opt.zero_grad()
            rec, kl, _ = forward(x)
            (rec + 0.2 * torch.clamp(kl - 48, min=0)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        seconds, first = time_steps(model, step, data, a.warmup, a.iters)
        print(json.dumps({"mode": mode, "torch": torch.__version__, "threads": a.threads,
                          "flush_denormal": a.flush_denormal, "seq_per_s": round(a.batch * a.iters / seconds, 2),
                          "warmup_s": round(first, 1)}), flush=True)


if __name__ == "__main__":
    main()
