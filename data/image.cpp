// Image decode (JPEG: libjpeg-turbo in data/jpeg.cpp; PNG, BMP: stb_image) and write
// (stb_image_write).
//
// Decode: the whole file is read into memory, the format is told by its magic bytes (only
// JPEG, PNG and BMP are accepted), the header size is checked against the pixel limit (read
// from the header here, then by libjpeg-turbo or stbi_info), and only then are the pixels
// decoded to 3-channel uint8. stb_image fills missing data with zeros instead of failing, so
// truncation is detected here: a JPEG must end with its EOI marker (libjpeg-turbo would also
// warn, and its warnings are errors), a PNG with its IEND chunk, an uncompressed BMP must hold
// all its rows.
//
// Tested in tests/test_image.cpp and tests/test_image_keras.cpp:
//   cmake --build build --target test_image && build/tests/test_image
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <stb_image.h>
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/image.h"
#include "data/jpeg.h"

namespace alz::data {
namespace {

namespace fs = std::filesystem;

// Reads a whole file; throws "<path>: <reason>" with the system's reason.
std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec) ALZ_FAIL(path << ": cannot open (" << ec.message() << ")");
  if (fs::is_directory(status)) ALZ_FAIL(path << ": is a folder, not an image file");
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) ALZ_FAIL(path << ": cannot open (" << std::strerror(errno) << ")");
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  if (std::ferror(file.get())) ALZ_FAIL(path << ": read error (" << std::strerror(errno) << ")");
  return bytes;
}

bool starts_with(const uint8_t* bytes, size_t size, const char* magic, size_t length) {
  return size >= length && std::memcmp(bytes, magic, length) == 0;
}

// "jpeg", "png", "bmp", or throws naming what the bytes look like instead.
std::string sniff_format(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size == 0) ALZ_FAIL(name << ": empty file (0 bytes)");
  if (size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return "jpeg";
  if (starts_with(bytes, size, "\x89PNG\r\n\x1a\n", 8)) return "png";
  if (starts_with(bytes, size, "BM", 2)) return "bmp";
  const char* other = nullptr;
  if (starts_with(bytes, size, "GIF8", 4))
    other = "GIF";
  else if (starts_with(bytes, size, "II*\0", 4) || starts_with(bytes, size, "MM\0*", 4))
    other = "TIFF";
  else if (size >= 12 && starts_with(bytes, size, "RIFF", 4) && std::memcmp(bytes + 8, "WEBP", 4) == 0)
    other = "WebP";
  else if (size >= 132 && std::memcmp(bytes + 128, "DICM", 4) == 0)
    other = "DICOM";
  else if (starts_with(bytes, size, "\x1f\x8b", 2))
    other = "gzip";
  else if (starts_with(bytes, size, "8BPS", 4))
    other = "PSD";
  if (other) ALZ_FAIL(name << ": unsupported image format " << other << " (use JPEG, PNG or BMP)");
  ALZ_FAIL(name << ": not an image (no JPEG, PNG or BMP signature; " << size << " bytes)");
}

uint32_t read_le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
uint16_t read_le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// stb_image reads zeros past the end of the data; catch truncation before it does. `tail` is
// the last tail_size bytes of a file of total_size bytes, `head` its first head_size bytes.
constexpr size_t kTailBytes = 256;

void check_complete(const uint8_t* head, size_t head_size, const uint8_t* tail, size_t tail_size, uint64_t total_size,
                    const std::string& format, const std::string& name) {
  if (format == "jpeg") {
    for (size_t i = tail_size; i-- > 1;)
      if (tail[i - 1] == 0xFF && tail[i] == 0xD9) return;
    ALZ_FAIL(name << ": truncated JPEG (no end-of-image marker at the end of the file)");
  }
  if (format == "png") {
    for (size_t i = 0; i + 4 <= tail_size; ++i)
      if (std::memcmp(tail + i, "IEND", 4) == 0) return;
    ALZ_FAIL(name << ": truncated PNG (no IEND chunk at the end of the file)");
  }
  if (format == "bmp" && head_size >= 34) {
    uint32_t data_offset = read_le32(head + 10);
    int32_t width = static_cast<int32_t>(read_le32(head + 18));
    int32_t height = static_cast<int32_t>(read_le32(head + 22));
    uint16_t bits = read_le16(head + 28);
    uint32_t compression = read_le32(head + 30);
    if (compression == 0 && width > 0 && height != 0 && bits > 0) {
      uint64_t row = ((uint64_t(width) * bits + 31) / 32) * 4;
      uint64_t need = uint64_t(data_offset) + row * uint64_t(std::abs(int64_t(height)));
      if (need > total_size)
        ALZ_FAIL(name << ": truncated BMP (" << total_size << " bytes, the header needs " << need << ")");
    }
  }
}

void check_complete_memory(const uint8_t* bytes, size_t size, const std::string& format, const std::string& name) {
  size_t tail = std::min(size, kTailBytes);
  check_complete(bytes, size, bytes + size - tail, tail, size, format, name);
}

uint32_t read_be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
uint16_t read_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// Every PNG chunk must fit in the file: stb_image sizes its buffer for the compressed data from
// the chunks' declared lengths before reading them, so a 1 KB file whose chunk claims 1.2 GB
// made it allocate that much (found by fuzz/image_fuzz.cpp). Walks the chunks up to IEND.
void check_png_chunks(const uint8_t* bytes, size_t size, const std::string& name) {
  size_t at = 8;  // after the signature
  while (at + 12 <= size) {
    const uint64_t length = read_be32(bytes + at);
    const std::string type(reinterpret_cast<const char*>(bytes + at + 4), 4);
    ALZ_CHECK(length <= size - at - 12, name << ": corrupt PNG: chunk '" << type << "' at byte " << at << " claims "
                                             << length << " bytes, more than the " << size - at - 12
                                             << " left in the file");
    if (type == "IEND") return;
    at += 12 + length;
  }
  ALZ_FAIL(name << ": truncated PNG (the chunks end before IEND)");
}

// The size the header declares, read here so that the pixel limit gives its own message even
// where stb_image refuses the size with a generic one. false when not found.
bool declared_size(const uint8_t* bytes, size_t size, const std::string& format, int64_t& width, int64_t& height) {
  if (format == "png" && size >= 24 && std::memcmp(bytes + 12, "IHDR", 4) == 0) {
    width = read_be32(bytes + 16);
    height = read_be32(bytes + 20);
    return true;
  }
  if (format == "bmp" && size >= 26) {
    width = std::abs(int64_t(static_cast<int32_t>(read_le32(bytes + 18))));
    height = std::abs(int64_t(static_cast<int32_t>(read_le32(bytes + 22))));
    return true;
  }
  if (format == "jpeg") {  // walk the marker segments to the first start-of-frame
    size_t pos = 2;
    while (pos + 4 <= size && bytes[pos] == 0xFF) {
      uint8_t marker = bytes[pos + 1];
      if (marker == 0xFF) {
        ++pos;
        continue;
      }
      if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9)) {
        pos += 2;
        continue;
      }
      bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
      if (frame && pos + 9 <= size) {
        height = read_be16(bytes + pos + 5);
        width = read_be16(bytes + pos + 7);
        return true;
      }
      pos += 2 + read_be16(bytes + pos + 2);
    }
  }
  return false;
}

ImageInfo probe_bytes(const uint8_t* bytes, size_t size, const std::string& name, const DecodeLimits& limits) {
  ImageInfo info;
  info.format = sniff_format(bytes, size, name);
  ALZ_CHECK(size <= size_t(INT32_MAX), name << ": file too large (" << size << " bytes)");
  int64_t declared_w = 0, declared_h = 0;
  if (declared_size(bytes, size, info.format, declared_w, declared_h)) {
    // Both sizes are below 2^32, so their product fits in 64 unsigned bits (a PNG may claim
    // 4294967295 x 4294967295: found by fuzz/image_fuzz.cpp as a signed overflow).
    const uint64_t declared = uint64_t(declared_w) * uint64_t(declared_h);
    ALZ_CHECK(declared <= uint64_t(limits.max_pixels), name << ": image too large: " << declared_w << "x" << declared_h
                                                            << " = " << declared << " pixels, the limit is "
                                                            << limits.max_pixels << " (ALZ_MAX_IMAGE_PIXELS)");
  }
  int w = 0, h = 0, comp = 0;
  if (info.format == "jpeg") {
    detail::JpegHeader header = detail::read_jpeg_header(bytes, size, name);
    w = header.width;
    h = header.height;
    comp = header.grey ? 1 : 3;
  } else if (!stbi_info_from_memory(bytes, static_cast<int>(size), &w, &h, &comp)) {
    ALZ_FAIL(name << ": corrupt " << info.format << " header (" << stbi_failure_reason() << ")");
  }
  ALZ_CHECK(w > 0 && h > 0, name << ": image has zero size (" << w << "x" << h << ")");
  ALZ_CHECK(int64_t(w) * h <= limits.max_pixels, name << ": image too large: " << w << "x" << h << " = "
                                                      << int64_t(w) * h << " pixels, the limit is " << limits.max_pixels
                                                      << " (ALZ_MAX_IMAGE_PIXELS)");
  info.width = w;
  info.height = h;
  info.channels_in_file = comp;
  return info;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

void check_writable(const Image& image, const std::string& path, int max_channels) {
  ALZ_CHECK(image.height > 0 && image.width > 0, path << ": cannot write an empty image");
  ALZ_CHECK(image.channels >= 1 && image.channels <= max_channels && image.channels != 2,
            path << ": cannot write " << image.channels << " channels");
  ALZ_CHECK(image.pixels.size() == size_t(image.height) * image.width * image.channels,
            path << ": pixel buffer holds " << image.pixels.size() << " bytes, expected "
                 << size_t(image.height) * image.width * image.channels);
}

}  // namespace

std::string lowercase_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

bool has_image_extension(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

ImageInfo probe_image_memory(const uint8_t* bytes, size_t size, const std::string& name, const DecodeLimits& limits) {
  return probe_bytes(bytes, size, name, limits);
}

ImageInfo probe_image_file(const std::string& path, const DecodeLimits& limits) {
  // Reads the first 64 KiB (enough for the header unless a JPEG carries large metadata
  // first; then the whole file) and the last bytes, which tell whether the file is complete.
  constexpr size_t kHeadBytes = 64 * 1024;
  std::error_code ec;
  if (fs::is_directory(path, ec)) ALZ_FAIL(path << ": is a folder, not an image file");
  uint64_t size = fs::file_size(path, ec);
  if (ec) ALZ_FAIL(path << ": cannot open (" << ec.message() << ")");
  if (size == 0) ALZ_FAIL(path << ": empty file (0 bytes)");
  if (size <= kHeadBytes + kTailBytes) {
    std::vector<uint8_t> bytes = read_file_bytes(path);
    ImageInfo info = probe_bytes(bytes.data(), bytes.size(), path, limits);
    check_complete_memory(bytes.data(), bytes.size(), info.format, path);
    return info;
  }
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) ALZ_FAIL(path << ": cannot open (" << std::strerror(errno) << ")");
  std::vector<uint8_t> head(kHeadBytes), tail(kTailBytes);
  bool ok = std::fread(head.data(), 1, head.size(), file.get()) == head.size() &&
            std::fseek(file.get(), -static_cast<long>(kTailBytes), SEEK_END) == 0 &&
            std::fread(tail.data(), 1, tail.size(), file.get()) == tail.size();
  if (!ok) ALZ_FAIL(path << ": read error (" << std::strerror(errno) << ")");
  file.reset();
  ImageInfo info;
  try {
    info = probe_bytes(head.data(), head.size(), path, limits);
  } catch (const Error&) {
    std::vector<uint8_t> bytes = read_file_bytes(path);  // header beyond the first 64 KiB
    info = probe_bytes(bytes.data(), bytes.size(), path, limits);
  }
  check_complete(head.data(), head.size(), tail.data(), tail.size(), size, info.format, path);
  return info;
}

Image decode_image_memory(const uint8_t* bytes, size_t size, const std::string& name, const DecodeLimits& limits) {
  ImageInfo info = probe_bytes(bytes, size, name, limits);
  check_complete_memory(bytes, size, info.format, name);
  if (info.format == "jpeg") {
    detail::JpegHeader header;
    header.width = info.width;
    header.height = info.height;
    header.grey = info.channels_in_file == 1;
    return detail::decode_jpeg(bytes, size, name, header);
  }
  if (info.format == "png") check_png_chunks(bytes, size, name);
  int w = 0, h = 0, comp = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &comp, 3),
                                                 &stbi_image_free);
  if (!data) ALZ_FAIL(name << ": corrupt " << info.format << " data (" << stbi_failure_reason() << ")");
  ALZ_CHECK(w == info.width && h == info.height, name << ": decoded size differs from the header");
  Image image(h, w, 3);
  std::memcpy(image.pixels.data(), data.get(), image.pixels.size());
  return image;
}

Image decode_image_file(const std::string& path, const DecodeLimits& limits) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image_memory(bytes.data(), bytes.size(), path, limits);
}

Image to_grey(const Image& image) {
  if (image.channels == 1) return image;
  ALZ_CHECK(image.channels >= 3, "to_grey: needs 1, 3 or 4 channels, got " << image.channels);
  Image grey(image.height, image.width, 1);
  const size_t n = size_t(image.height) * image.width;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = image.pixels.data() + i * image.channels;
    grey.pixels[i] = static_cast<uint8_t>(std::lround(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]));
  }
  return grey;
}

void write_jpeg(const std::string& path, const Image& image, int quality) {
  check_writable(image, path, 3);
  ALZ_CHECK(quality >= 1 && quality <= 100, path << ": JPEG quality " << quality << " is not in [1, 100]");
  std::vector<uint8_t> bytes;
  if (!stbi_write_jpg_to_func(append_bytes, &bytes, image.width, image.height, image.channels, image.pixels.data(),
                              quality))
    ALZ_FAIL(path << ": JPEG encoding failed");
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

static std::vector<uint8_t> encode_png_bytes(const Image& image, const std::string& name_for_errors) {
  check_writable(image, name_for_errors, 4);
  std::vector<uint8_t> bytes;
  if (!stbi_write_png_to_func(append_bytes, &bytes, image.width, image.height, image.channels, image.pixels.data(),
                              image.width * image.channels))
    ALZ_FAIL(name_for_errors << ": PNG encoding failed");
  return bytes;
}

void write_png(const std::string& path, const Image& image) {
  const std::vector<uint8_t> bytes = encode_png_bytes(image, path);
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::vector<uint8_t> encode_png(const Image& image) { return encode_png_bytes(image, "PNG image in memory"); }

int64_t default_max_image_pixels() {
  constexpr int64_t kDefault = 64LL * 1024 * 1024;
  const char* text = std::getenv("ALZ_MAX_IMAGE_PIXELS");
  if (text == nullptr || *text == '\0') return kDefault;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  ALZ_CHECK(*end == '\0' && errno == 0 && value > 0,
            "ALZ_MAX_IMAGE_PIXELS=" << text << ": expected a positive whole number of pixels");
  return value;
}

}  // namespace alz::data
