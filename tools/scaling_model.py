#!/usr/bin/env python3
"""Predicted data-parallel scaling of our trainer on A100s, from measured and published parts.

docs/distributed.md ("Scaling model") explains every input and assumption; this script does the
arithmetic and a small simulation of the gradient buckets overlapping backward.

  python3 tools/scaling_model.py --bench-model build/bin/bench_model [--markdown]
  python3 tools/scaling_model.py --bench-model build/bin/bench_model --check-cpu overlap.jsonl

Inputs per preset come from `bench_model --preset P --describe` (every parameter tensor, forward
FLOPs), so the model here is the one the trainer builds. The step:

  compute   t_c = 3 * F * b / (peak * MFU)             forward 1/3, backward 2/3 of it
  optimizer t_o = params * 32 B / HBM bandwidth         Adam + clipping read/write fp32 state
  buckets   as train::GradientReducer builds them: first <= 1 MB, then <= --bucket-mb, in the
            order gradients become ready (a tensor larger than the cap is a bucket alone)
  ready     a module's gradients are ready when backward has done its FLOPs (backward runs the
            modules in reverse, each stack's top layer first: output, decoder, decoder_init,
            conductor, conductor_init, the encoder, then mu/sigma, whose weight gradients LibTorch
            produces last, as measured)
  transfer  one bucket: alpha + S * 2(n-1)/n / busbw   (NCCL ring all-reduce; nccl-tests' busbw)
  exposed   what the communication stream still has to do when backward ends
  step      t_c + exposed + t_o;  efficiency = (t_c + t_o) / step
"""
import argparse
import json
import subprocess
import sys

PRESETS = ["cat-drums_2bar_small", "groovae_2bar_humanize", "hierdec-drums_16bar"]
GPUS = [1, 8, 32]
BUCKETS_MB = [1, 2, 4, 8, 16, 25, 50, 100, 400]

# Assumptions (docs/distributed.md cites each).
A100 = {
    "peak_bf16_tflops": 312.0,  # A100 SXM dense bf16 (datasheet)
    "mfu": 0.30,                # stated: what a well-fed LSTM model reaches (issue 24)
    "hbm_gb_s": 1555.0,         # A100 40 GB HBM2 (80 GB: 2039); the optimizer's memory traffic
}
LINKS = {
    # name: (bus bandwidth GB/s at large messages, latency alpha in seconds per all-reduce)
    "nvlink": (200.0, 15e-6),   # 8 x A100 SXM, NVSwitch: 300 GB/s per direction, ~195 GB/s measured
    "ib200": (23.0, 40e-6),     # one 200 Gb/s HDR NIC per node (25 GB/s line rate, ~92% achieved)
}


def describe(bench_model, preset):
    out = subprocess.run([bench_model, "--preset", preset, "--describe"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def layer_of(tensor):
    """The LSTM layer a tensor of an LstmStack belongs to (token_gates and dense_w feed layer 0)."""
    digits = "".join(ch for ch in tensor if ch.isdigit())
    return int(digits) if digits else 0


def stages(d):
    """Backward's stages in the order it runs them: (module, layer), the FLOPs of its forward
    products (a weight applied at every step costs 2 * numel per step), and its tensors."""
    T, U = d["steps"], d["bars"]
    hierarchical = any(name.startswith("conductor.") for name, _ in d["parameters"])
    applied = {"encoder": T, "decoder": T, "output": T, "conductor": U, "mu": 1, "sigma": 1, "conductor_init": 1,
               "decoder_init": U if hierarchical else 1}
    found = {}
    for name, numel in d["parameters"]:
        module, _, tensor = name.partition(".")
        key = (module, layer_of(tensor) if module in ("encoder", "conductor", "decoder") else 0)
        flops, tensors = found.setdefault(key, [0.0, []])
        tensors.append(numel)
        if tensor.startswith("token_gates") or tensor.startswith("bias"):
            continue  # lookups and bias adds: no products
        steps = applied[module]
        if module == "decoder" and tensor == "dense_w":
            steps = applied["decoder_init"]  # the conductor's (or z's) input: once per bar (per sequence)
        found[key][0] += 2.0 * numel * steps
    order = []
    for module in BACKWARD_ORDER:  # within a stack, the top layer's gradients are complete first
        order += sorted((k for k in found if k[0] == module), key=lambda k: -k[1])
    return [(key, found[key][0], found[key][1]) for key in order]


BACKWARD_ORDER = ["output", "decoder", "decoder_init", "conductor", "conductor_init", "encoder", "mu", "sigma"]


def ready_tensors(d):
    """(ready time as a fraction of backward, bytes) for every gradient tensor, in ready order."""
    plan = stages(d)
    total = sum(flops for _, flops, _ in plan)
    done, ready = 0.0, []
    for _, flops, tensors in plan:
        done += flops
        ready += [(done / total, 4 * numel) for numel in tensors]  # float32 gradients (bf16 autocast keeps them)
    return ready


def buckets(ready, bucket_mb, first_mb=1.0):
    """Buckets as GradientReducer::build_buckets makes them: (ready fraction, bytes) each."""
    groups, filled = [[]], 0
    for when, size in ready:
        limit = (min(first_mb, bucket_mb) if len(groups) == 1 else bucket_mb) * 1e6
        if filled > 0 and filled + size > limit:
            groups.append([])
            filled = 0
        groups[-1].append((when, size))
        filled += size
    return [(max(w for w, _ in g), sum(s for _, s in g)) for g in groups]


def exposed_seconds(bucket_list, backward_s, n, busbw_gb_s, alpha_s):
    """Communication left when backward ends, one stream serving buckets in order."""
    if n == 1:
        return 0.0, 0.0
    stream_free = 0.0
    total = 0.0
    for when, size in bucket_list:
        duration = alpha_s + size * 2 * (n - 1) / n / (busbw_gb_s * 1e9)
        total += duration
        stream_free = max(stream_free, when * backward_s) + duration
    return max(0.0, stream_free - backward_s), total


def step_time(d, per_gpu_batch, n, link, bucket_mb):
    compute = 3.0 * d["forward_flops_per_sequence"] * per_gpu_batch / (A100["peak_bf16_tflops"] * 1e12 * A100["mfu"])
    optimizer = d["params"] * 32.0 / (A100["hbm_gb_s"] * 1e9)
    busbw, alpha = LINKS[link]
    exposed, communication = exposed_seconds(buckets(ready_tensors(d), bucket_mb), compute * 2 / 3, n, busbw, alpha)
    return {"compute_ms": 1e3 * compute, "optimizer_ms": 1e3 * optimizer, "communication_ms": 1e3 * communication,
            "exposed_ms": 1e3 * exposed, "step_ms": 1e3 * (compute + optimizer + exposed),
            "efficiency": (compute + optimizer) / (compute + optimizer + exposed)}


def best_bucket(d, per_gpu_batch, n, link):
    results = [(step_time(d, per_gpu_batch, n, link, mb)["step_ms"], -mb, mb) for mb in BUCKETS_MB]
    return min(results)[2]


def link_for(n):
    return "nvlink" if n <= 8 else "ib200"


def table(models, global_batch_rule):
    rows = []
    for d in models:
        for n in GPUS:
            per_gpu = global_batch_rule(n)
            link = link_for(n)
            mb = best_bucket(d, per_gpu, n, link)
            t25 = step_time(d, per_gpu, n, link, 25)
            t = step_time(d, per_gpu, n, link, mb)
            rows.append({"preset": d["preset"], "gpus": n, "link": link if n > 1 else "-", "per_gpu_batch": per_gpu,
                         "global_batch": per_gpu * n, "bucket_mb": mb, **t, "efficiency_at_25mb": t25["efficiency"],
                         "sequences_per_s": per_gpu * n / (t["step_ms"] / 1e3)})
    return rows


def check_cpu(d, measured):
    """The simulation fed the CPU's own figures (bench_overlap): predicted vs measured hidden fraction."""
    print("\nCPU check (bench_overlap under mpirun -np 2; the simulation given the same step and all-reduce times):")
    print("| bucket MB | measured hidden | predicted hidden |")
    print("|---|---|---|")
    for m in measured:
        alone = m["communication_alone_ms"] / 1e3
        backward = m["after_backward"]["step_ms"] / 1e3 * 2 / 3 - alone  # the step minus the all-reduces
        bl = buckets(ready_tensors(d), m["bucket_mb"])
        total_bytes = sum(size for _, size in bl)
        # bandwidth and latency that reproduce the measured all-reduces alone on 2 ranks
        alpha = 50e-6
        busbw = total_bytes * 2 * (2 - 1) / 2 / max(alone - alpha * len(bl), 1e-9) / 1e9
        exposed, communication = exposed_seconds(bl, backward, 2, busbw, alpha)
        print(f"| {m['bucket_mb']:g} | {m['hidden_fraction']:.0%} | {1 - exposed / communication:.0%} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-model", required=True, help="path to build/bin/bench_model")
    parser.add_argument("--check-cpu", help="bench_overlap JSON lines (one per bucket size) of the hierdec-drums_4bar 256 model")
    args = parser.parse_args()
    models = [describe(args.bench_model, p) for p in PRESETS]
    for d in models:
        ours = sum(flops for _, flops, _ in stages(d))
        # the C++ count adds the initial-state products the decoder's dense input shares; within 1%
        if abs(ours - d["forward_flops_per_sequence"]) > 0.01 * d["forward_flops_per_sequence"]:
            sys.exit(f"{d['preset']}: module FLOPs {ours:.4g} differ from forward_flops_per_sequence {d['forward_flops_per_sequence']:.4g}")
    print(f"A100 SXM at {A100['mfu']:.0%} of {A100['peak_bf16_tflops']:g} bf16 TFLOP/s; NVLink busbw {LINKS['nvlink'][0]:g} GB/s "
          f"(<= 8 GPUs), 200 Gb/s IB busbw {LINKS['ib200'][0]:g} GB/s (32 GPUs = 4 nodes); fp32 gradients\n")
    print("| preset | params | gradient MB | train GFLOP/seq |")
    print("|---|---|---|---|")
    for d in models:
        print(f"| {d['preset']} | {d['params'] / 1e6:.1f} M | {4 * d['params'] / 1e6:.0f} | {3 * d['forward_flops_per_sequence'] / 1e9:.2f} |")
    for title, rule in [("the paper's global batch 512 kept (per-GPU batch 512 / n)", lambda n: 512 // n),
                        ("per-GPU batch 512 kept (global 512 n)", lambda n: 512),
                        ("per-GPU batch 64 (global 64 n)", lambda n: 64)]:
        print(f"\n{title}:\n")
        print("| preset | GPUs | link | batch/GPU | best bucket MB | compute ms | all-reduce ms | exposed ms | step ms | efficiency | at 25 MB | seq/s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in table(models, rule):
            print(f"| {r['preset']} | {r['gpus']} | {r['link']} | {r['per_gpu_batch']} | {r['bucket_mb']:g} | {r['compute_ms']:.2f} | "
                  f"{r['communication_ms']:.2f} | {r['exposed_ms']:.2f} | {r['step_ms']:.2f} | {r['efficiency']:.1%} | "
                  f"{r['efficiency_at_25mb']:.1%} | {r['sequences_per_s']:,.0f} |")
    if args.check_cpu:
        measured = [json.loads(line) for line in open(args.check_cpu) if line.strip()]
        check_cpu(describe_cpu(args.bench_model), measured)


def describe_cpu(bench_model):
    out = subprocess.run([bench_model, "--bars", "4", "--enc", "256", "--z", "128", "--cond", "256", "--dec", "256", "--describe"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
