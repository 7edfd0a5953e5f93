"""PyTorch's batch-1 inference latency of ResNet152V2 on the CPU (2 threads, 224x224, eval mode,
NCHW and channels_last), to put beside `alz predict --timing --device cpu` in the same run.

Uses the reference model of the anchors folder (ALZ_ANCHORS, default ../shared/anchors):
    python3 bench/torch_cpu_latency.py          (Debian's python3-torch)
Prints one line per memory format: the median of 20 runs after 5 warm-up runs.
"""
import os
import sys
import time

anchors = os.environ.get("ALZ_ANCHORS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "anchors"))
sys.path.insert(0, anchors)

import torch  # noqa: E402
from torch_resnetv2 import ResNetV2  # noqa: E402

torch.set_num_threads(2)
model = ResNetV2(152).eval()
for channels_last in (False, True):
    x = torch.randn(1, 3, 224, 224)
    m = model
    if channels_last:
        m = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(5):
            m(x)
        times = []
        for _ in range(20):
            start = time.perf_counter()
            m(x)
            times.append(time.perf_counter() - start)
    times.sort()
    print(f"pytorch {'channels_last' if channels_last else 'nchw'} batch-1 latency: {times[len(times) // 2] * 1e3:.2f} ms")
