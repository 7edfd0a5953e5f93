// JPEG decoding through libjpeg-turbo's TurboJPEG API, for data/image.cpp (which sniffs the
// format, checks the pixel limit and the end-of-image marker first). Internal to data/.
//
// The settings are those of PIL (and so of keras.utils.load_img): the accurate integer IDCT
// (libjpeg's JDCT_ISLOW) and fancy (triangle-filter) chroma upsampling; grey JPEGs come out with
// the grey value in all three channels, as PIL's convert("RGB") gives them. (TensorFlow's
// tf.io.decode_jpeg defaults to the fast IDCT and differs from PIL by a few grey levels; with
// dct_method="INTEGER_ACCURATE" it gives these pixels too.)
//
// Tested in tests/test_image_keras.cpp against PIL's pixels, and in tests/test_image.cpp:
//   cmake --build build --target test_image_keras && build/tests/test_image_keras
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/image.h"

namespace alz::data::detail {

struct JpegHeader {
  int width = 0, height = 0;
  bool grey = false;  // one component (else YCbCr or RGB)
};

// Reads the frame header. Throws alz::Error "<name>: corrupt jpeg header (<reason>)", or
// "<name>: CMYK JPEG is not supported ..." for CMYK and YCCK files.
JpegHeader read_jpeg_header(const uint8_t* bytes, size_t size, const std::string& name);

// Decodes to (H, W, 3) uint8 RGB. `header` is what read_jpeg_header returned for these bytes
// (its size, already checked against the pixel limit, sizes the buffer). Any libjpeg-turbo
// warning (premature end of data, corrupt entropy data, extraneous bytes) is an error:
// "<name>: corrupt jpeg data (<libjpeg-turbo's message>)".
Image decode_jpeg(const uint8_t* bytes, size_t size, const std::string& name, const JpegHeader& header);

}  // namespace alz::data::detail
