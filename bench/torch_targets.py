"""PyTorch's side of every speed target of the mixed-precision work, on the same card and in the
same call as alz's benchmarks (tools/device-check.sh, stage `targets`). One JSON line per case.

The model is the anchors' Keras-equivalent ResNetV2 (ALZ_ANCHORS, default ../shared/anchors,
torch_resnetv2.ResNetV2); the timing here is this script's own:
  train  a fixed random batch on the GPU, `--warm` untimed steps, then the mean of `--steps`
         timed steps between two CUDA events (ms/step, img/s, peak memory of the timed steps)
  infer  eval mode, no_grad, the same timing, forward only
  latency  batch 1, eval mode: the median of 50 single forwards, each ended by a sync; with
         `graph`, one forward captured in a CUDA graph (torch.cuda.CUDAGraph) and replayed

    python3 bench/torch_targets.py train:bf16:cl:sgd:64:224x224 infer:bf16:cl:128:224x224 latency:tf32:graph
    case = kind:precision[:cl][:sgd|adam][:compile]:batch:HxW   (precision fp32, tf32 or bf16)
bf16 is autocast (PyTorch's one-line mixed precision); cl is channels_last; fp32 turns TF32 off.
"""
import json
import os
import sys
import time

anchors = os.environ.get("ALZ_ANCHORS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "anchors"))
sys.path.insert(0, anchors)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_resnetv2 import ResNetV2  # noqa: E402


def parse(case):
    parts = case.split(":")
    spec = {"kind": parts[0], "precision": parts[1], "cl": False, "optimizer": "sgd", "compile": False,
            "graph": False, "batch": 64 if parts[0] == "train" else (128 if parts[0] == "infer" else 1),
            "height": 224, "width": 224}
    for p in parts[2:]:
        if p == "cl":
            spec["cl"] = True
        elif p in ("sgd", "adam"):
            spec["optimizer"] = p
        elif p == "compile":
            spec["compile"] = True
        elif p == "graph":
            spec["graph"] = True
        elif "x" in p:
            spec["height"], spec["width"] = (int(v) for v in p.split("x"))
        else:
            spec["batch"] = int(p)
    return spec


def set_precision(precision):
    tf32 = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return torch.bfloat16 if precision == "bf16" else None


def model_and_input(spec, train):
    model = ResNetV2(152).cuda()
    model.train(train)
    x = torch.randn(spec["batch"], 3, spec["height"], spec["width"], device="cuda")
    if spec["cl"]:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    return model, x


def timed(fn, warm, steps):
    t0 = time.time()
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    warm_s = time.time() - t0
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return (start.elapsed_time(end) / steps, warm_s, torch.cuda.max_memory_allocated() / 2**30,
            torch.cuda.max_memory_reserved() / 2**30)


def run_train(spec, warm, steps):
    dtype = set_precision(spec["precision"])
    model, x = model_and_input(spec, True)
    y = torch.randint(0, 4, (spec["batch"],), device="cuda")
    if spec["optimizer"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(model) if spec["compile"] else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()

    return timed(step, warm, steps)


def run_infer(spec, warm, steps):
    dtype = set_precision(spec["precision"])
    model, x = model_and_input(spec, False)
    forward = torch.compile(model) if spec["compile"] else model

    def step():
        with torch.no_grad(), torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            forward(x)

    return timed(step, warm, steps)


def run_latency(spec):
    dtype = set_precision(spec["precision"])
    model, x = model_and_input(spec, False)

    def forward():
        with torch.no_grad(), torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            return model(x)

    for _ in range(10):
        forward()
    torch.cuda.synchronize()
    run = forward
    if spec["graph"]:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                forward()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            forward()
        run = graph.replay
    times = []
    for _ in range(50):
        torch.cuda.synchronize()
        t = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    warm, steps = 5, 20
    cases = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--steps" in sys.argv:
        steps = int(sys.argv[sys.argv.index("--steps") + 1])
        cases = [c for c in cases if c != str(steps)]
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    for case in cases:
        spec = parse(case)
        out = {"case": case, "torch": torch.__version__, "device": torch.cuda.get_device_name(), **spec}
        try:
            if spec["kind"] == "latency":
                out["median_ms"] = run_latency(spec)
            else:
                fn = run_train if spec["kind"] == "train" else run_infer
                ms, warm_s, peak, reserved = fn(spec, warm, steps)
                out.update(ms=ms, images_per_second=spec["batch"] / (ms / 1e3), warm_s=warm_s, peak_gib=peak,
                           reserved_gib=reserved)
        except Exception as error:  # one failing case must not hide the others
            out["error"] = repr(error)
        print(json.dumps(out), flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
