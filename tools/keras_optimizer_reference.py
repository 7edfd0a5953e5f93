#!/usr/bin/env python3
"""Reference numbers for tests/test_optimizer.cpp (KerasReference): Keras 3's own SGD, Adam and
AdamW with `weight_decay` set, a few steps on a 3-element variable, printed as C++ rows.

Keras 3 applies every optimizer's `weight_decay` decoupled, before the update
(BaseOptimizer._apply_weight_decay: w -= w * wd * lr, with the step's learning rate); AdamW is
Adam with a weight_decay default of 0.004. alz's optim/optimizer.h follows the same rule.

The scenario (the C++ test repeats it exactly):
  w0 = (1, -2, 0.5); step 1: g = (0.1, 0.2, -0.3), lr 0.1; step 2: g = (-0.05, 0.4, 0.25), lr 0.05;
  step 3: g = (0.3, -0.1, 0.02), lr 0.05. The learning rate changes between steps so that the
  decay is seen to use the step's rate.

Run with Keras 3 on any backend (float64 needs JAX's x64 switch; float32 is Keras's default):
  pip install keras "jax[cpu]"
  KERAS_BACKEND=jax python3 tools/keras_optimizer_reference.py
The output was pasted into tests/test_optimizer.cpp; the Keras version is printed first.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402
import numpy as np  # noqa: E402

W0 = [1.0, -2.0, 0.5]
GRADS = [[0.1, 0.2, -0.3], [-0.05, 0.4, 0.25], [0.3, -0.1, 0.02]]
RATES = [0.1, 0.05, 0.05]

CASES = {
    "sgd_wd": lambda: keras.optimizers.SGD(learning_rate=RATES[0], weight_decay=0.1),
    "sgd_momentum_wd": lambda: keras.optimizers.SGD(learning_rate=RATES[0], momentum=0.9, weight_decay=0.1),
    "sgd_nesterov_wd": lambda: keras.optimizers.SGD(learning_rate=RATES[0], momentum=0.9, nesterov=True,
                                                    weight_decay=0.1),
    "adam_wd": lambda: keras.optimizers.Adam(learning_rate=RATES[0], weight_decay=0.1),
    "adamw_default": lambda: keras.optimizers.AdamW(learning_rate=RATES[0]),  # weight_decay 0.004
}


def run(make, dtype):
    variable = keras.Variable(np.array(W0, dtype=dtype), dtype=dtype)
    optimizer = make()
    optimizer.build([variable])
    rows = []
    for grad, rate in zip(GRADS, RATES):
        optimizer.learning_rate.assign(rate)
        optimizer.apply([np.array(grad, dtype=dtype)], [variable])
        rows.append([float(x) for x in np.asarray(variable.value)])
    return optimizer, rows


def main():
    print(f"// keras {keras.__version__}, backend {keras.backend.backend()}")
    for name, make in CASES.items():
        for dtype in ("float64", "float32"):
            optimizer, rows = run(make, dtype)
            cells = ", ".join("{" + ", ".join(repr(x) for x in row) + "}" for row in rows)
            print(f"// {name} {dtype}: weight_decay {optimizer.weight_decay}")
            print(f"{{{cells}}}")


if __name__ == "__main__":
    main()
