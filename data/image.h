// Images on the host: decode, resize, write, and the Keras resnet_v2 preprocessing.
//
// An Image is HWC uint8: pixels[(y * width + x) * channels + c], row-major, C fastest.
// Decoding always gives 3 channels (grey is replicated, alpha is dropped), from JPEG (baseline
// and progressive, through libjpeg-turbo with the accurate integer IDCT and fancy upsampling:
// the pixels PIL, and so keras.utils.load_img, give), PNG (8- and 16-bit, palette, grey,
// grey+alpha) and BMP (both through stb_image). The header's size is checked BEFORE decoding,
// so a huge image is refused without allocating. CMYK and YCCK JPEGs are refused. A JPEG that
// libjpeg-turbo decodes only with a warning (corrupt or missing data) is refused too: the part
// it could not read would be filled in, and such an image must not be trained on silently.
// Resize is separable bilinear with half-pixel centres; when shrinking, the triangle filter is
// widened by the scale factor (antialiasing), so a 2x downscale averages 2x2 blocks.
// Preprocessing is keras.applications.resnet_v2.preprocess_input: y = x / 127.5 - 1, NHWC.
//
// Tested in tests/test_image.cpp:
//   cmake --build build --target test_image && build/tests/test_image
//
// Errors (missing file, corrupt data, too large) throw alz::Error "<path>: <reason>".
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/bf16.h"

namespace alz::data {

struct Image {
  int height = 0, width = 0, channels = 3;
  std::vector<uint8_t> pixels;  // (H, W, C)

  Image() = default;
  Image(int h, int w, int c) : height(h), width(w), channels(c), pixels(size_t(h) * w * c) {}
  uint8_t& at(int y, int x, int c) { return pixels[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int y, int x, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }
  bool empty() const { return pixels.empty(); }
};

struct DecodeLimits {
  int64_t max_pixels = 64LL * 1024 * 1024;  // width * height above this is refused
};

// What the header says, without decoding the pixels.
struct ImageInfo {
  int height = 0, width = 0;
  int channels_in_file = 0;  // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
  std::string format;        // "jpeg", "png", "bmp", or "" when unknown
};

// File extensions accepted as images, compared case-insensitively: .jpg .jpeg .png .bmp.
bool has_image_extension(const std::string& path);
// The extension of `path` with its dot, lower-cased: "scans/a.JPG" -> ".jpg" ("" when none).
std::string lowercase_extension(const std::string& path);

// Reads the header only (libjpeg-turbo for JPEG, stbi_info otherwise); throws alz::Error
// "<path>: <reason>" for unreadable, empty or non-image files, unsupported formats, zero sizes,
// and sizes over the limit.
ImageInfo probe_image_file(const std::string& path, const DecodeLimits& limits = {});
ImageInfo probe_image_memory(const uint8_t* bytes, size_t size, const std::string& name_for_errors,
                             const DecodeLimits& limits = {});

// Full decode to 3-channel uint8. Throws alz::Error "<path>: <reason>".
Image decode_image_file(const std::string& path, const DecodeLimits& limits = {});
Image decode_image_memory(const uint8_t* bytes, size_t size, const std::string& name_for_errors,
                          const DecodeLimits& limits = {});

// Any channel count in, the same channel count out. height, width >= 1.
Image resize_bilinear(const Image& src, int height, int width);

// Luma (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, rounded) as a 1-channel image; a 1-channel
// input is returned as is.
Image to_grey(const Image& image);

// Written atomically (a temp file in the same folder, then rename). channels 1 (grey) or 3;
// write_png also takes 4. Throws alz::Error "<path>: <reason>". JPEGs are encoded by
// stb_image_write (baseline; 4:2:0 chroma at quality <= 90, else 4:4:4): the phantom set and
// the test images stay byte for byte what they were, and nothing needs them to match Keras.
void write_jpeg(const std::string& path, const Image& image, int quality = 92);
void write_png(const std::string& path, const Image& image);

// y = x / 127.5 - 1 for a 3-channel image into (H, W, 3) floats (or bf16, rounded to nearest
// even from the float value). Throws alz::Error when channels != 3.
void preprocess_to_float(const Image& image, float* out);
void preprocess_to_bf16(const Image& image, bf16* out);

}  // namespace alz::data
