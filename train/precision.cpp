// The --precision setting (train/precision.h).
#include "train/precision.h"

#include "core/error.h"

#if ALZ_HAS_CUDA
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#endif

namespace alz::train {

void check_precision(const std::string& precision, const char* option) {
  ALZ_CHECK(precision == "fp32" || precision == "tf32" || precision == "bf16",
            option << " must be fp32, tf32 or bf16; got '" << precision << "'");
}

void apply_precision(const std::string& precision, Device device, Module& model, bool inference_only) {
  check_precision(precision);
  if (device.is_cuda()) {
#if ALZ_HAS_CUDA
    // bf16 runs its convolutions and GEMMs in bf16; what stays f32 (nothing in ResNetV2) may use TF32.
    const bool tf32 = precision != "fp32";
    set_conv_allow_tf32(tf32);
    kernels::set_gemm_allow_tf32(tf32);
    // cuDNN's heuristic order: its own timings (benchmark mode) include per-call host overhead
    // and were seen to prefer slower kernels for some shapes (bench/RESULTS.md).
    set_conv_algo_mode(ConvAlgoMode::Heuristic);
#endif
  }
  if (precision == "bf16") {
    model.set_compute_dtype(DType::BF16);
    if (inference_only) model.store_weights_in_compute_dtype();
  } else {
    model.clear_compute_dtype();
  }
}

}  // namespace alz::train
