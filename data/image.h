// Images on the host: decode, write, and the image types. Resizing and the Keras preprocessing
// are in data/resize.h.
//
// An Image is HWC uint8: pixels[(y * width + x) * channels + c], row-major, C fastest; a
// FloatImage holds the same layout in float (0..255, not rounded: what a resize gives).
// Decoding always gives 3 channels (grey is replicated, alpha is dropped), from JPEG (baseline
// and progressive, through libjpeg-turbo with the accurate integer IDCT and fancy upsampling:
// the pixels PIL, and so keras.utils.load_img, give), PNG (8- and 16-bit, palette, grey,
// grey+alpha) and BMP (both through stb_image). The header's size is checked BEFORE decoding,
// so a huge image is refused without allocating. CMYK and YCCK JPEGs are refused. A JPEG that
// libjpeg-turbo decodes only with a warning (corrupt or missing data) is refused too: the part
// it could not read would be filled in, and such an image must not be trained on silently.
//
// Tested in tests/test_image.cpp and tests/test_image_keras.cpp (fixtures made by PIL):
//   cmake --build build --target test_image test_image_keras && build/tests/test_image
//
// Errors (missing file, corrupt data, too large) throw alz::Error "<path>: <reason>".
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace alz::data {

template <typename T> struct BasicImage {
  int height = 0, width = 0, channels = 3;
  std::vector<T> pixels;  // (H, W, C)

  BasicImage() = default;
  BasicImage(int h, int w, int c) : height(h), width(w), channels(c), pixels(size_t(h) * w * c) {}
  T& at(int y, int x, int c) { return pixels[(size_t(y) * width + x) * channels + c]; }
  T at(int y, int x, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }
  bool empty() const { return pixels.empty(); }
};
using Image = BasicImage<uint8_t>;     // decoded pixels
using FloatImage = BasicImage<float>;  // resized (and augmented) pixels, 0..255

// The default cap on width * height: 64 Mi pixels (a 256 MB RGB image), or the value of the
// environment variable ALZ_MAX_IMAGE_PIXELS (a positive whole number; a malformed one is an
// error naming it). Checked against the header before any pixel memory is allocated.
int64_t default_max_image_pixels();

struct DecodeLimits {
  int64_t max_pixels = default_max_image_pixels();  // width * height above this is refused
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

// Luma (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, rounded) as a 1-channel image; a 1-channel
// input is returned as is.
Image to_grey(const Image& image);

// Written atomically (a temp file in the same folder, then rename). channels 1 (grey) or 3;
// write_png also takes 4. Throws alz::Error "<path>: <reason>". JPEGs are encoded by
// stb_image_write (baseline; 4:2:0 chroma at quality <= 90, else 4:4:4): the phantom set and
// the test images stay byte for byte what they were, and nothing needs them to match Keras.
void write_jpeg(const std::string& path, const Image& image, int quality = 92);
void write_png(const std::string& path, const Image& image);
// The bytes write_png would write (channels 1, 3 or 4), for embedding (the run report's
// thumbnails). Throws alz::Error when the image is empty or has another channel count.
std::vector<uint8_t> encode_png(const Image& image);

}  // namespace alz::data
