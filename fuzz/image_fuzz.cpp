// Fuzz target: image decoding through the project's own entry points (data/image.h): the
// header probe and the full decode (JPEG through libjpeg-turbo, PNG and BMP through stb_image),
// with a pixel cap small enough that the fuzzer spends its time in the parsers, then both
// resizes of what decoded (data/resize.h).
#include "data/image.h"
#include "data/resize.h"
#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return alz::fuzz::run_expecting_clean_errors([&] {
    alz::data::DecodeLimits limits;
    limits.max_pixels = 1 << 20;
    (void)alz::data::probe_image_memory(data, size, "fuzz input", limits);
    alz::data::Image image = alz::data::decode_image_memory(data, size, "fuzz input", limits);
    (void)alz::data::resize_image(image, 17, 13, alz::data::ResizeMethod::Keras);
    (void)alz::data::resize_image(image, 17, 13, alz::data::ResizeMethod::Area);
  });
}
