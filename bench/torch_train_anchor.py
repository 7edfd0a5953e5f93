"""PyTorch's training step for ResNet152V2 (TF32, channels_last, SGD momentum, batch 64, 224x224),
timed in the same call as `alz train --max-steps` so both figures come from one card and one day.

Uses the reference model of the anchors folder (ALZ_ANCHORS, default ../shared/anchors):
    python3 bench/torch_train_anchor.py [--steps 20] [--batch 64] [--res 224]
Prints one JSON line: {"ms_per_step", "images_per_second", "peak_gib", "torch", "device"}.
"""
import json
import os
import sys

anchors = os.environ.get("ALZ_ANCHORS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "anchors"))
sys.path.insert(0, anchors)

import torch  # noqa: E402
from torch_resnetv2 import ResNetV2, time_train  # noqa: E402


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


steps, batch, res = arg("--steps", 20), arg("--batch", 64), arg("--res", 224)
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.allow_tf32 = True
torch.backends.cuda.matmul.allow_tf32 = True
torch.manual_seed(0)
ms, img_s, warm_s, peak = time_train(ResNetV2(152), batch, res, None, True, steps=steps)
print(json.dumps({"ms_per_step": ms, "images_per_second": img_s, "peak_gib": peak, "warmup_s": warm_s,
                  "torch": torch.__version__, "device": torch.cuda.get_device_name()}))
