// JPEG decoding with libjpeg-turbo (see data/jpeg.h).
//
// One TurboJPEG decompressor per thread, made on first use and kept: the loader's workers
// decode thousands of images each, and a handle is reusable after a failed call. Flags:
//   TJFLAG_ACCURATEDCT    the accurate integer IDCT (PIL's, libjpeg's default)
//   (no TJFLAG_FASTUPSAMPLE: fancy upsampling, PIL's default)
//   TJFLAG_STOPONWARNING  stop at the first warning, whose message then names the problem
//   TJFLAG_LIMITSCANS     refuse progressive files with an absurd number of scans (a known way
//                         to make a decoder spin on a small file); real files have about ten
//
// Tested in tests/test_image_keras.cpp and tests/test_image.cpp:
//   cmake --build build --target test_image_keras test_image && build/tests/test_image_keras
#include "data/jpeg.h"

#include <turbojpeg.h>

#include <memory>

#include "core/error.h"

namespace alz::data::detail {
namespace {

struct HandleDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};

tjhandle thread_decompressor() {
  thread_local std::unique_ptr<void, HandleDeleter> handle(tjInitDecompress());
  ALZ_CHECK(handle, "libjpeg-turbo: cannot create a decompressor (" << tjGetErrorStr2(nullptr) << ")");
  return handle.get();
}

}  // namespace

JpegHeader read_jpeg_header(const uint8_t* bytes, size_t size, const std::string& name) {
  tjhandle handle = thread_decompressor();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, bytes, static_cast<unsigned long>(size), &width, &height, &subsampling,
                          &colorspace) != 0)
    ALZ_FAIL(name << ": corrupt jpeg header (" << tjGetErrorStr2(handle) << ")");
  // Tables only (an end-of-image marker before any frame header) reads as success with 0x0.
  if (width < 1 || height < 1) ALZ_FAIL(name << ": corrupt jpeg header (no frame header: the data holds no image)");
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    ALZ_FAIL(name << ": CMYK JPEG is not supported (" << width << "x" << height << "); convert it to RGB or greyscale");
  JpegHeader header;
  header.width = width;
  header.height = height;
  header.grey = colorspace == TJCS_GRAY;
  return header;
}

Image decode_jpeg(const uint8_t* bytes, size_t size, const std::string& name, const JpegHeader& header) {
  tjhandle handle = thread_decompressor();
  Image image(header.height, header.width, 3);
  const int flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  if (tjDecompress2(handle, bytes, static_cast<unsigned long>(size), image.pixels.data(), header.width,
                    header.width * 3, header.height, TJPF_RGB, flags) != 0)
    ALZ_FAIL(name << ": corrupt jpeg data (" << tjGetErrorStr2(handle) << ")");
  return image;
}

}  // namespace alz::data::detail
