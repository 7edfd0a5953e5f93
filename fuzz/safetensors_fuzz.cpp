// Fuzz target: the safetensors reader (tensor/safetensors.h), header and body. A file that
// loads is also checked against a small model's expectations, as a checkpoint load does.
#include "fuzz/fuzz_target.h"
#include "tensor/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return alz::fuzz::run_expecting_clean_errors([&] {
    const std::string& path = alz::fuzz::write_input_file(data, size, ".safetensors");
    alz::SafetensorsFile file = alz::load_safetensors(path);
    double sum = 0.0;
    for (const alz::NamedTensor& named : file.tensors)
      if (named.tensor.numel() > 0 && named.tensor.dtype() != alz::DType::I32) sum += named.tensor.to_vector()[0];
    std::vector<alz::NamedTensor> expected = {{"dense/kernel", alz::Tensor::zeros({3, 2})},
                                              {"dense/bias", alz::Tensor::zeros({2})}};
    (void)alz::load_into(file, expected, alz::LoadMode::Partial).describe();
    (void)sum;
  });
}
