"""The speed targets of the mixed-precision work as a Markdown table: alz's figures
(bench_train_step --json lines, one per case, from tools/device-check.sh stage `targets`) beside
PyTorch's from the same call (bench/torch_targets.py lines), the ratio and whether it meets the
target. Training and inference compare mean step times (both timed back to back after warm-up);
batch-1 latency compares medians of single synchronised forwards.

    python3 tools/summarize_targets.py targets_alz.jsonl targets_torch.jsonl > targets.md
"""
import json
import sys

# (alz case, PyTorch case, what is compared, target as (kind, value))
#   kind "speedup": PyTorch time / alz time must be >= value; "latency": alz / PyTorch <= value
PAIRS = [
    ("train_bf16_b64", "train:bf16:cl:64:224x224", "train 224, b64, bf16 (PyTorch autocast, channels_last)", ("speedup", 1.6)),
    ("train_bf16_b64", "train:bf16:cl:compile:64:224x224", "train 224, b64, bf16 against torch.compile", ("speedup", 1.0)),
    ("train_tf32_b64", "train:tf32:cl:64:224x224", "train 224, b64, TF32 (channels_last)", ("speedup", 1.4)),
    ("train_fp32_b64", "train:fp32:cl:64:224x224", "train 224, b64, strict fp32", ("speedup", 1.15)),
    ("train_bf16_b32_208x176_adam", "train:bf16:cl:adam:32:208x176", "train 208x176, b32, Adam, bf16", ("speedup", 2.0)),
    ("infer_bf16_b128", "infer:bf16:cl:128:224x224", "inference b128, bf16", ("speedup", 1.3)),
    ("infer_tf32_b128", "infer:tf32:cl:128:224x224", "inference b128, TF32", None),
    ("latency_bf16_b1", "latency:bf16:cl:1:224x224:graph", "batch-1 latency, bf16 (PyTorch: CUDA graph)", ("latency", 0.75)),
    ("latency_tf32_b1", "latency:tf32:1:224x224:graph", "batch-1 latency, TF32 (PyTorch: CUDA graph)", ("latency", 0.75)),
    ("train_bf16_b64_eager", "train:bf16:cl:64:224x224", "train 224, b64, bf16, alz without CUDA graphs", None),
    ("train_tf32_b64_eager", "train:tf32:cl:64:224x224", "train 224, b64, TF32, alz without CUDA graphs", None),
    # cuDNN's algorithms timed once per shape (--conv-algo benchmark, as PyTorch's cudnn.benchmark)
    ("train_bf16_b64_bench", "train:bf16:cl:64:224x224", "train 224, b64, bf16, alz --conv-algo benchmark", None),
    ("train_tf32_b64_bench", "train:tf32:cl:64:224x224", "train 224, b64, TF32, alz --conv-algo benchmark", None),
    ("train_fp32_b64_bench", "train:fp32:cl:64:224x224", "train 224, b64, strict fp32, alz --conv-algo benchmark", None),
    ("train_fp32_b64_bench_ws2g", "train:fp32:cl:64:224x224",
     "train 224, b64, strict fp32, alz --conv-algo benchmark --conv-workspace-mb 2048", None),
    ("train_bf16_b32_208x176_adam_eager", "train:bf16:cl:adam:32:208x176", "208x176 b32 Adam bf16, alz without graphs", None),
]


def read(path, key):
    rows = {}
    try:
        with open(path) as lines:
            for line in lines:
                line = line.strip()
                if line.startswith("{"):
                    d = json.loads(line)
                    rows[d[key]] = d
    except OSError:
        pass
    return rows


def fmt(ms):
    return "-" if ms is None else f"{ms:.2f}"


def alz_ms(d, latency):
    return d.get("median_ms") if latency else d.get("mean_ms", d.get("median_ms"))


def torch_ms(d, latency):
    return d.get("median_ms") if latency else d.get("ms")


def main():
    alz, torch = read(sys.argv[1], "case"), read(sys.argv[2], "case")
    device = next((d.get("device_name") for d in alz.values() if d.get("device_name")), "?")
    version = next((d.get("torch") for d in torch.values()), "?")
    print(f"\nTargets on {device}, PyTorch {version} in the same call:\n")
    print("| case | alz ms | PyTorch ms | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for a, t, what, target in PAIRS:
        latency = target is not None and target[0] == "latency" or a.startswith("latency")
        da, dt = alz.get(a), torch.get(t)
        ma = alz_ms(da, latency) if da else None
        mt = torch_ms(dt, latency) if dt and "error" not in dt else None
        graph = f" (graph {da.get('cuda_graph')})" if da and "cuda_graph" in da else ""
        if ma is None or mt is None:
            why = "not run" if (da is None or dt is None) else ("PyTorch error: " + dt.get("error", "")[:80] if dt else "")
            print(f"| {what}{graph} | {fmt(ma)} | {fmt(mt)} | - | "
                  f"{target[1] if target else ''} | {why} |")
            continue
        if latency:
            ratio = ma / mt
            text, met = f"{ratio:.2f}x of PyTorch's time", (ratio <= target[1] if target else None)
        else:
            ratio = mt / ma
            text, met = f"{ratio:.2f}x faster", (ratio >= target[1] if target else None)
        goal = "" if target is None else (f"<= {target[1]}x" if latency else f">= {target[1]}x")
        print(f"| {what}{graph} | {ma:.2f} | {mt:.2f} | {text} | {goal} | "
              f"{'' if met is None else ('yes' if met else 'NO')} |")
    print("\nPeak memory of training (GiB): allocated (alz: requests rounded to 512 bytes, a CUDA graph's pool "
          "included), alz before rounding, reserved:\n")
    print("| case | alz | PyTorch | met (alz <= PyTorch) | alz requested | alz reserved | PyTorch reserved |")
    print("|---|---|---|---|---|---|---|")
    for a, t, what, _ in PAIRS:
        if not a.startswith("train") or "compile" in t:
            continue
        da, dt = alz.get(a), torch.get(t)
        pa = da.get("peak_allocated_gib") if da else None
        pt = dt.get("peak_gib") if dt else None
        if pa is None or pt is None:
            continue
        extra = [da.get("peak_requested_gib"), da.get("reserved_gib"), dt.get("reserved_gib")]
        extra_text = " | ".join("-" if v is None else f"{v:.2f}" for v in extra)
        print(f"| {what} | {pa:.2f} | {pt:.2f} | {'yes' if pa <= pt else 'NO'} | {extra_text} |")


if __name__ == "__main__":
    main()
