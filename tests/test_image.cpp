// Tests of data/image.h and data/resize.h: decoding every supported kind of file (fixtures
// written at run time: stb_image_write for baseline JPEG / 8-bit PNG / BMP, a small PNG writer
// here for 16-bit and palette PNGs, a small progressive-JPEG writer here), bad files (truncated,
// corrupt, what libjpeg-turbo only warns about), both resize methods against direct references
// in double, and the resnet_v2 preprocessing. Against PIL's and Keras's own pixels:
// tests/test_image_keras.cpp.
//   cmake --build build --target test_image && build/tests/test_image
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "data/image.h"
#include "data/resize.h"
#include "support/compare.h"

namespace alz::data {
namespace {

using test::error_message;

namespace fs = std::filesystem;

Image random_image(int h, int w, int c, uint32_t seed) {
  std::mt19937 rng(seed);
  Image image(h, w, c);
  for (auto& v : image.pixels) v = static_cast<uint8_t>(rng() & 0xFF);
  return image;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// ---- a minimal PNG writer (stored deflate blocks), for bit depths stb_image_write lacks ----
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void put_chunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  put32(out, static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  put32(out, crc32(body.data(), body.size()));
}

// rows: height rows of raw scanline bytes (no filter byte).
std::vector<uint8_t> make_png(int w, int h, int bit_depth, int color_type,
                              const std::vector<std::vector<uint8_t>>& rows, const std::vector<uint8_t>& palette = {}) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put32(ihdr, static_cast<uint32_t>(w));
  put32(ihdr, static_cast<uint32_t>(h));
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(color_type), 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  if (!palette.empty()) put_chunk(png, "PLTE", palette);
  std::vector<uint8_t> raw;
  for (const auto& row : rows) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), row.begin(), row.end());
  }
  std::vector<uint8_t> z = {0x78, 0x01};
  size_t pos = 0;
  do {
    size_t n = std::min<size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);
    z.insert(z.end(), {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(~n),
                       static_cast<uint8_t>(~n >> 8)});
    z.insert(z.end(), raw.begin() + pos, raw.begin() + pos + n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t v : raw) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  put32(z, (b << 16) | a);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", {});
  return png;
}

// ---- a minimal progressive JPEG writer: grey, blocks of constant value (DC only) ----
// Quantisation 1 everywhere, so block value v has DC = 8 (v - 128) and decodes back to v.
// Scan 1: DC first scan; scan 2: AC 1..63 with an end-of-band in every block.
class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}
  void put(uint32_t bits, int count) {
    for (int i = count - 1; i >= 0; --i) {
      acc_ = static_cast<uint8_t>((acc_ << 1) | ((bits >> i) & 1u));
      if (++n_ == 8) flush_byte();
    }
  }
  void finish() {
    while (n_ != 0) put(1, 1);
  }

 private:
  void flush_byte() {
    out_.push_back(acc_);
    if (acc_ == 0xFF) out_.push_back(0x00);
    acc_ = 0;
    n_ = 0;
  }
  std::vector<uint8_t>& out_;
  uint8_t acc_ = 0;
  int n_ = 0;
};

std::vector<uint8_t> make_progressive_jpeg(int blocks_y, int blocks_x, const std::vector<int>& block_values) {
  const int h = blocks_y * 8, w = blocks_x * 8;
  std::vector<uint8_t> j = {0xFF, 0xD8};
  auto segment = [&](uint8_t marker, const std::vector<uint8_t>& body) {
    j.insert(j.end(),
             {0xFF, marker, static_cast<uint8_t>((body.size() + 2) >> 8), static_cast<uint8_t>(body.size() + 2)});
    j.insert(j.end(), body.begin(), body.end());
  };
  std::vector<uint8_t> dqt(65, 1);
  dqt[0] = 0;
  segment(0xDB, dqt);
  segment(0xC2, {8, static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h), static_cast<uint8_t>(w >> 8),
                 static_cast<uint8_t>(w), 1, 1, 0x11, 0});  // SOF2: progressive
  std::vector<uint8_t> dht_dc = {0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (uint8_t s = 0; s < 12; ++s) dht_dc.push_back(s);  // category s has the 4-bit code s
  segment(0xC4, dht_dc);
  segment(0xC4, {0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00});  // EOB has code '0'
  segment(0xDA, {1, 1, 0x00, 0, 0, 0});                                         // DC first scan
  {
    BitWriter bits(j);
    int previous = 0;
    for (int v : block_values) {
      int dc = 8 * (v - 128), diff = dc - previous;
      previous = dc;
      int magnitude = std::abs(diff), size = 0;
      while (magnitude >> size) ++size;
      bits.put(static_cast<uint32_t>(size), 4);
      if (size > 0) bits.put(static_cast<uint32_t>(diff >= 0 ? diff : diff + (1 << size) - 1), size);
    }
    bits.finish();
  }
  segment(0xDA, {1, 1, 0x00, 1, 63, 0});  // AC scan
  {
    BitWriter bits(j);
    for (size_t b = 0; b < block_values.size(); ++b) bits.put(0, 1);
    bits.finish();
  }
  j.insert(j.end(), {0xFF, 0xD9});
  return j;
}

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string dir_;
};

TEST_F(ImageTest, PngRgbRgbaGreyAndGreyAlphaDecodeExactlyTo3Channels) {
  Image rgb = random_image(7, 5, 3, 1);
  write_png(path("rgb.png"), rgb);
  EXPECT_EQ(decode_image_file(path("rgb.png")).pixels, rgb.pixels);

  Image rgba = random_image(3, 9, 4, 2);
  write_png(path("rgba.png"), rgba);
  Image got = decode_image_file(path("rgba.png"));
  ASSERT_EQ(got.channels, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 9; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(got.at(y, x, c), rgba.at(y, x, c)) << "alpha must be dropped";

  Image grey = random_image(5, 4, 1, 3);
  write_png(path("grey.png"), grey);
  Image ga = random_image(4, 6, 2, 4);
  ASSERT_TRUE(stbi_write_png(path("ga.png").c_str(), 6, 4, 2, ga.pixels.data(), 6 * 2));
  Image got_grey = decode_image_file(path("grey.png")), got_ga = decode_image_file(path("ga.png"));
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(got_grey.at(y, x, c), grey.at(y, x, 0)) << "grey is replicated";
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(got_ga.at(y, x, c), ga.at(y, x, 0));
}

TEST_F(ImageTest, Png16BitAndPaletteDecode) {
  // 16-bit RGB: stb_image keeps the high byte.
  const int w = 5, h = 3;
  std::mt19937 rng(5);
  std::vector<std::vector<uint8_t>> rows(h);
  for (auto& row : rows)
    for (int i = 0; i < w * 3 * 2; ++i) row.push_back(static_cast<uint8_t>(rng() & 0xFF));
  write_bytes(path("deep.png"), make_png(w, h, 16, 2, rows));
  Image deep = decode_image_file(path("deep.png"));
  ASSERT_EQ(deep.height, h);
  ASSERT_EQ(deep.width, w);
  for (int y = 0; y < h; ++y)
    for (int i = 0; i < w * 3; ++i) ASSERT_EQ(deep.pixels[y * w * 3 + i], rows[y][2 * i]) << "y " << y << " i " << i;

  // 16-bit grey.
  std::vector<std::vector<uint8_t>> grey_rows = {{0x12, 0x34, 0xFF, 0x00}, {0x00, 0xFF, 0x80, 0x01}};
  write_bytes(path("grey16.png"), make_png(2, 2, 16, 0, grey_rows));
  Image g16 = decode_image_file(path("grey16.png"));
  EXPECT_EQ(g16.at(0, 0, 2), 0x12);
  EXPECT_EQ(g16.at(0, 1, 0), 0xFF);
  EXPECT_EQ(g16.at(1, 0, 1), 0x00);
  EXPECT_EQ(g16.at(1, 1, 0), 0x80);

  // Palette: 4 entries, 8-bit indices.
  std::vector<uint8_t> palette = {10, 20, 30, 200, 100, 0, 0, 0, 255, 77, 88, 99};
  std::vector<std::vector<uint8_t>> index_rows = {{0, 1, 2}, {3, 2, 1}};
  write_bytes(path("palette.png"), make_png(3, 2, 8, 3, index_rows, palette));
  Image pal = decode_image_file(path("palette.png"));
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(pal.at(y, x, c), palette[index_rows[y][x] * 3 + c]);
}

TEST_F(ImageTest, BmpDecodesExactly) {
  Image image = random_image(6, 7, 3, 6);  // 7 * 3 = 21 bytes per row: padded rows
  ASSERT_TRUE(stbi_write_bmp(path("a.bmp").c_str(), 7, 6, 3, image.pixels.data()));
  EXPECT_EQ(decode_image_file(path("a.bmp")).pixels, image.pixels);
  EXPECT_EQ(probe_image_file(path("a.bmp")).format, "bmp");
}

TEST_F(ImageTest, BaselineJpegRoundTripsWithinJpegError) {
  // A smooth image: JPEG at quality 100 keeps it within a few levels.
  Image image(24, 40, 3);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 40; ++x)
      for (int c = 0; c < 3; ++c) image.at(y, x, c) = static_cast<uint8_t>(40 + 4 * x + 3 * y + 20 * c);
  write_jpeg(path("a.jpg"), image, 100);
  Image got = decode_image_file(path("a.jpg"));
  ASSERT_EQ(got.height, 24);
  ASSERT_EQ(got.width, 40);
  int worst = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) worst = std::max(worst, std::abs(got.pixels[i] - image.pixels[i]));
  EXPECT_LE(worst, 8) << "quality-100 JPEG of a smooth gradient (chroma subsampling costs a few levels)";
  EXPECT_EQ(probe_image_file(path("a.jpg")).format, "jpeg");

  // Grey in, grey out: the three channels agree.
  Image grey(16, 16, 1);
  for (int i = 0; i < 256; ++i) grey.pixels[i] = static_cast<uint8_t>(i);
  write_jpeg(path("grey.JPG"), grey, 95);
  Image g = decode_image_file(path("grey.JPG"));
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      ASSERT_EQ(g.at(y, x, 0), g.at(y, x, 1));
      ASSERT_EQ(g.at(y, x, 0), g.at(y, x, 2));
      ASSERT_NEAR(g.at(y, x, 0), grey.at(y, x, 0), 12) << "lossy JPEG of a fine ramp";
    }
}

TEST_F(ImageTest, ProgressiveJpegDecodes) {
  const int by = 2, bx = 3;
  std::vector<int> values = {0, 255, 128, 37, 200, 90};
  std::vector<uint8_t> bytes = make_progressive_jpeg(by, bx, values);
  const uint8_t sof2[2] = {0xFF, 0xC2};
  ASSERT_NE(std::search(bytes.begin(), bytes.end(), sof2, sof2 + 2), bytes.end()) << "must be progressive";
  write_bytes(path("progressive.jpg"), bytes);
  Image got = decode_image_file(path("progressive.jpg"));
  ASSERT_EQ(got.height, 16);
  ASSERT_EQ(got.width, 24);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_NEAR(got.at(y, x, c), values[(y / 8) * bx + x / 8], 1) << "integer IDCT rounding: y " << y << " x " << x;
}

TEST_F(ImageTest, OneByNImagesDecodeAndResize) {
  Image line = random_image(1, 37, 3, 7);
  write_png(path("line.png"), line);
  Image got = decode_image_file(path("line.png"));
  EXPECT_EQ(got.pixels, line.pixels);
  for (ResizeMethod method : {ResizeMethod::Keras, ResizeMethod::Area}) {
    FloatImage big = resize_image(got, 9, 11, method);
    EXPECT_EQ(big.height, 9);
    // Every output row is the same: the source has one row.
    for (int y = 1; y < 9; ++y)
      for (int x = 0; x < 11; ++x) ASSERT_EQ(big.at(y, x, 1), big.at(0, x, 1));
  }
}

TEST_F(ImageTest, BadFilesThrowNamingTheFileAndReason) {
  auto message = [&](const std::string& name) { return error_message([&] { decode_image_file(path(name)); }); };
  EXPECT_NE(message("missing.jpg").find("missing.jpg: cannot open"), std::string::npos);

  write_bytes(path("empty.jpg"), {});
  EXPECT_NE(message("empty.jpg").find("empty file"), std::string::npos);

  std::ofstream(path("text.jpg")) << "this is not a picture\n";
  EXPECT_NE(message("text.jpg").find("text.jpg: not an image"), std::string::npos);

  write_bytes(path("anim.png"), {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0});
  EXPECT_NE(message("anim.png").find("unsupported image format GIF"), std::string::npos);

  Image image = random_image(32, 32, 3, 8);
  write_jpeg(path("good.jpg"), image, 90);
  std::vector<uint8_t> jpeg = read_bytes(path("good.jpg"));
  write_bytes(path("truncated.jpg"), std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  EXPECT_NE(message("truncated.jpg").find("truncated JPEG"), std::string::npos);
  std::vector<uint8_t> header_only(jpeg.begin(), jpeg.begin() + 20);
  header_only.insert(header_only.end(), {0xFF, 0xD9});
  write_bytes(path("headless.jpg"), header_only);
  EXPECT_NE(message("headless.jpg").find("headless.jpg: corrupt jpeg"), std::string::npos);
  // Cut in the middle of the entropy data, an end-of-image marker put back: the cheap check
  // passes, libjpeg-turbo warns ("premature end of data segment") and would fill in the rest.
  std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + jpeg.size() * 2 / 3);
  cut.insert(cut.end(), {0xFF, 0xD9});
  write_bytes(path("cut.jpg"), cut);
  EXPECT_NE(message("cut.jpg").find("cut.jpg: corrupt jpeg data (Corrupt JPEG data"), std::string::npos)
      << message("cut.jpg");
  // Garbage in the entropy data, the length kept: libjpeg-turbo decodes to the end with a
  // warning; refused too.
  std::vector<uint8_t> garbled = jpeg;
  std::mt19937 rng(5);
  for (size_t i = garbled.size() / 2; i < garbled.size() / 2 + 40; ++i) garbled[i] = static_cast<uint8_t>(rng());
  write_bytes(path("garbled.jpg"), garbled);
  EXPECT_NE(message("garbled.jpg").find("garbled.jpg: corrupt jpeg"), std::string::npos) << message("garbled.jpg");
  // Extra bytes after the end-of-image marker are ignored, as by PIL.
  std::vector<uint8_t> trailing = jpeg;
  trailing.insert(trailing.end(), {0x00, 0x00, 0x0A});
  write_bytes(path("trailing.jpg"), trailing);
  EXPECT_EQ(decode_image_file(path("trailing.jpg")).pixels, decode_image_file(path("good.jpg")).pixels);

  write_png(path("good.png"), image);
  std::vector<uint8_t> png = read_bytes(path("good.png"));
  write_bytes(path("truncated.png"), std::vector<uint8_t>(png.begin(), png.begin() + png.size() - 20));
  EXPECT_NE(message("truncated.png").find("truncated PNG"), std::string::npos);
  std::vector<uint8_t> bad_png = png;
  for (size_t i = 41; i + 16 < bad_png.size(); ++i) bad_png[i] ^= 0x5A;  // IDAT scrambled, IEND kept
  write_bytes(path("corrupt.png"), bad_png);
  EXPECT_NE(message("corrupt.png").find("corrupt.png: corrupt png"), std::string::npos);

  ASSERT_TRUE(stbi_write_bmp(path("good.bmp").c_str(), 32, 32, 3, image.pixels.data()));
  std::vector<uint8_t> bmp = read_bytes(path("good.bmp"));
  write_bytes(path("truncated.bmp"), std::vector<uint8_t>(bmp.begin(), bmp.begin() + bmp.size() / 2));
  EXPECT_NE(message("truncated.bmp").find("truncated BMP"), std::string::npos);

  fs::create_directories(path("folder.jpg"));
  EXPECT_NE(message("folder.jpg").find("is a folder"), std::string::npos);
  // A truncated JPEG must also fail the cheap header probe used by scans.
  EXPECT_NE(error_message([&] { probe_image_file(path("truncated.jpg")); }).find("truncated"), std::string::npos);
}

TEST_F(ImageTest, HugeImagesAreRefusedFromTheHeader) {
  // The IHDR claims 100000 x 100000; the pixel data is a single row. Refused before decoding.
  write_bytes(path("huge.png"), make_png(100000, 100000, 8, 0, {std::vector<uint8_t>(16, 0)}));
  std::string message = error_message([&] { decode_image_file(path("huge.png")); });
  EXPECT_NE(message.find("huge.png: image too large: 100000x100000"), std::string::npos) << message;
  // A small real image over a small limit.
  write_png(path("small.png"), random_image(10, 10, 3, 9));
  DecodeLimits limits;
  limits.max_pixels = 99;
  EXPECT_NE(error_message([&] { decode_image_file(path("small.png"), limits); }).find("too large"), std::string::npos);
  limits.max_pixels = 100;
  EXPECT_NO_THROW(decode_image_file(path("small.png"), limits));
}

// Found by fuzz/image_fuzz.cpp: a 158-byte PNG whose IDAT chunk claims 1.29 GB made stb_image
// allocate that much before reading it. Chunks are now checked against the file size first.
TEST_F(ImageTest, APngChunkLongerThanTheFileIsRefusedBeforeAllocating) {
  const std::string path = "../fuzz/regressions/image/stb-png-huge-idat-allocation.png";
  const std::string message = error_message([&] { decode_image_file(path); });
  EXPECT_NE(message.find(path + ": corrupt PNG: chunk 'IDAT' at byte 33 claims 1291845733 bytes"), std::string::npos)
      << message;
}

// Found by fuzz/image_fuzz.cpp: a PNG header claiming 4294967295 x 4294967295 overflowed the
// signed product of the sizes before the limit check.
TEST_F(ImageTest, TheLargestSizesAPngCanClaimAreRefusedWithoutOverflow) {
  const std::string path = "../fuzz/regressions/image/png-size-product-overflow.png";
  const std::string message = error_message([&] { decode_image_file(path); });
  EXPECT_NE(message.find(path + ": image too large: 4294967295x4294967295 = 18446744065119617025 pixels"),
            std::string::npos)
      << message;
}

TEST_F(ImageTest, ThePixelCapComesFromTheEnvironment) {
  write_png(path("small.png"), random_image(10, 10, 3, 9));
  ::setenv("ALZ_MAX_IMAGE_PIXELS", "99", 1);
  EXPECT_EQ(default_max_image_pixels(), 99);
  std::string message = error_message([&] { decode_image_file(path("small.png")); });
  EXPECT_NE(message.find("small.png: image too large: 10x10 = 100 pixels, the limit is 99 (ALZ_MAX_IMAGE_PIXELS)"),
            std::string::npos)
      << message;
  ::setenv("ALZ_MAX_IMAGE_PIXELS", "100", 1);
  EXPECT_NO_THROW(decode_image_file(path("small.png")));
  ::setenv("ALZ_MAX_IMAGE_PIXELS", "lots", 1);
  EXPECT_NE(error_message([&] { default_max_image_pixels(); }).find("ALZ_MAX_IMAGE_PIXELS=lots"), std::string::npos);
  ::unsetenv("ALZ_MAX_IMAGE_PIXELS");
  EXPECT_EQ(default_max_image_pixels(), 64LL * 1024 * 1024);
}

TEST_F(ImageTest, UnreadableFileThrows) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permissions do not stop reads";
  write_png(path("locked.png"), random_image(4, 4, 3, 10));
  ::chmod(path("locked.png").c_str(), 0);
  std::string message = error_message([&] { decode_image_file(path("locked.png")); });
  ::chmod(path("locked.png").c_str(), 0644);
  EXPECT_NE(message.find("locked.png: cannot open"), std::string::npos) << message;
}

TEST_F(ImageTest, DecodeFromMemoryMatchesFile) {
  Image image = random_image(5, 6, 3, 11);
  write_png(path("m.png"), image);
  std::vector<uint8_t> bytes = read_bytes(path("m.png"));
  EXPECT_EQ(decode_image_memory(bytes.data(), bytes.size(), "m.png").pixels, image.pixels);
  ImageInfo info = probe_image_memory(bytes.data(), bytes.size(), "m.png");
  EXPECT_EQ(info.width, 6);
  EXPECT_EQ(info.height, 5);
  EXPECT_EQ(info.channels_in_file, 3);
}

TEST_F(ImageTest, WritesAreAtomicAndOverwrite) {
  write_jpeg(path("out.jpg"), random_image(8, 8, 3, 12));
  write_jpeg(path("out.jpg"), random_image(9, 10, 3, 13));
  EXPECT_EQ(decode_image_file(path("out.jpg")).width, 10);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1) << "no temporary file may be left behind";
  EXPECT_NE(error_message([&] { write_png(path("no/such/folder/x.png"), random_image(2, 2, 3, 1)); }).find("x.png"),
            std::string::npos);
}

TEST(ImageExtension, CaseInsensitive) {
  for (const char* name : {"a.jpg", "b.JPG", "c.jpeg", "d.JPEG", "e.png", "f.PNG", "g.bmp", "dir/h.Bmp"})
    EXPECT_TRUE(has_image_extension(name)) << name;
  for (const char* name : {"a.gif", "b.txt", "c", "d.jpg.txt", "e.tif"})
    EXPECT_FALSE(has_image_extension(name)) << name;
}

// ---- resize ----

// Direct 2D references in double, per axis a list of (source index, weight).
// keras: TensorFlow's bilinear with half-pixel centres; the sample position is computed in
// float32 as TensorFlow does (it decides which pixels are read), the interpolation in double.
std::vector<std::pair<int, double>> keras_weights(int in, int out, int i) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const float s = (static_cast<float>(i) + 0.5f) * scale - 0.5f;
  const double lerp = double(s) - std::floor(double(s));
  const int lower = std::max(static_cast<int>(std::floor(s)), 0),
            upper = std::min(static_cast<int>(std::ceil(s)), in - 1);
  return {{lower, 1.0 - lerp}, {upper, lerp}};
}

// area: per axis, area weights when shrinking or keeping the size, keras's when enlarging.
std::vector<std::pair<int, double>> area_weights(int in, int out, int i) {
  if (out > in) return keras_weights(in, out, i);
  std::vector<std::pair<int, double>> w;
  double scale = double(in) / out;
  double lo = i * scale, hi = (i + 1) * scale;
  for (int j = 0; j < in; ++j) {
    double overlap = std::min(hi, j + 1.0) - std::max(lo, double(j));
    if (overlap > 0) w.push_back({j, overlap / scale});
  }
  return w;
}

std::vector<double> reference_resize(const Image& src, int h, int w, ResizeMethod method) {
  auto weights = method == ResizeMethod::Keras ? keras_weights : area_weights;
  std::vector<double> out(size_t(h) * w * src.channels, 0.0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (auto [sy, wy] : weights(src.height, h, y))
        for (auto [sx, wx] : weights(src.width, w, x))
          for (int c = 0; c < src.channels; ++c)
            out[(size_t(y) * w + x) * src.channels + c] += wy * wx * src.at(sy, sx, c);
  return out;
}

TEST(Resize, BothMethodsMatchDirectReferences) {
  const int sizes[][4] = {{13, 17, 5, 7}, {8, 8, 16, 16}, {208, 176, 224, 224}, {10, 30, 21, 9},   {7, 5, 7, 11},
                          {1, 9, 4, 3},   {5, 1, 1, 1},   {224, 224, 31, 17},   {208, 176, 80, 80}};
  for (ResizeMethod method : {ResizeMethod::Keras, ResizeMethod::Area}) {
    for (const auto& s : sizes) {
      for (int channels : {1, 3}) {
        Image src = random_image(s[0], s[1], channels, 20 + s[2]);
        FloatImage got = resize_image(src, s[2], s[3], method);
        ASSERT_EQ(got.height, s[2]);
        ASSERT_EQ(got.width, s[3]);
        ASSERT_EQ(got.channels, channels);
        std::vector<double> actual(got.pixels.begin(), got.pixels.end());
        ALZ_EXPECT_CLOSE(actual, reference_resize(src, s[2], s[3], method), (test::Tolerance{2e-4, 0.0}))
            << "float32 sums of a few taps on 0..255: " << resize_method_name(method) << " " << s[0] << "x" << s[1]
            << " -> " << s[2] << "x" << s[3];
      }
    }
  }
}

TEST(Resize, IdentityConstantAndBlockAverage) {
  Image src = random_image(11, 7, 3, 30);
  for (ResizeMethod method : {ResizeMethod::Keras, ResizeMethod::Area}) {
    FloatImage same = resize_image(src, 11, 7, method);
    ASSERT_EQ(same.pixels.size(), src.pixels.size());
    for (size_t i = 0; i < src.pixels.size(); ++i) ASSERT_EQ(same.pixels[i], src.pixels[i]);
  }
  EXPECT_EQ(to_float(src).pixels, resize_image(src, 11, 7).pixels);

  Image constant(9, 13, 3);
  std::fill(constant.pixels.begin(), constant.pixels.end(), uint8_t{173});
  for (auto [h, w] : {std::pair{4, 5}, std::pair{20, 31}, std::pair{9, 2}, std::pair{1, 1}}) {
    for (float v : resize_image(constant, h, w, ResizeMethod::Keras).pixels) ASSERT_EQ(v, 173.0f) << "a + (a - a) * t";
    for (float v : resize_image(constant, h, w, ResizeMethod::Area).pixels)
      ASSERT_NEAR(v, 173.0f, 1e-3) << "float weights sum to 1 within rounding";
  }

  // A 2x shrink averages 2x2 blocks with both methods (keras samples half-way between two
  // pixels); the mean is kept as a float, not rounded.
  Image blocks = random_image(10, 14, 3, 31);
  for (ResizeMethod method : {ResizeMethod::Keras, ResizeMethod::Area}) {
    FloatImage half = resize_image(blocks, 5, 7, method);
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 7; ++x)
        for (int c = 0; c < 3; ++c) {
          int sum = blocks.at(2 * y, 2 * x, c) + blocks.at(2 * y, 2 * x + 1, c) + blocks.at(2 * y + 1, 2 * x, c) +
                    blocks.at(2 * y + 1, 2 * x + 1, c);
          ASSERT_NEAR(half.at(y, x, c), sum / 4.0, 1e-4) << resize_method_name(method) << " y " << y << " x " << x;
        }
  }
  // A 3x shrink: keras reads only the middle pixel of each 3x3 block (no antialiasing, as
  // Keras); area averages the block.
  Image thirds = random_image(9, 12, 1, 32);
  FloatImage keras = resize_image(thirds, 3, 4, ResizeMethod::Keras);
  FloatImage area = resize_image(thirds, 3, 4, ResizeMethod::Area);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) {
      ASSERT_EQ(keras.at(y, x, 0), thirds.at(3 * y + 1, 3 * x + 1, 0));
      double sum = 0;
      for (int dy = 0; dy < 3; ++dy)
        for (int dx = 0; dx < 3; ++dx) sum += thirds.at(3 * y + dy, 3 * x + dx, 0);
      ASSERT_NEAR(area.at(y, x, 0), sum / 9.0, 1e-4);
    }
  EXPECT_THROW(resize_image(src, 0, 4), Error);
  EXPECT_THROW(resize_image(Image{}, 4, 4), Error);
}

TEST(Resize, MethodNames) {
  EXPECT_EQ(parse_resize_method("keras"), ResizeMethod::Keras);
  EXPECT_EQ(parse_resize_method("area"), ResizeMethod::Area);
  EXPECT_STREQ(resize_method_name(ResizeMethod::Area), "area");
  EXPECT_NE(error_message([] { parse_resize_method("lanczos"); }).find("keras or area; got 'lanczos'"),
            std::string::npos);
}

// ---- preprocessing ----

TEST(Preprocess, KerasResnetV2Mapping) {
  Image image(1, 4, 3);
  const uint8_t values[12] = {0, 255, 127, 128, 1, 254, 64, 191, 0, 0, 255, 255};
  std::copy(values, values + 12, image.pixels.begin());
  std::vector<float> out(12);
  preprocess_to_float(image, out.data());
  std::vector<double> actual(out.begin(), out.end()), expected;
  for (uint8_t v : values) expected.push_back(v / 127.5 - 1.0);
  ALZ_EXPECT_CLOSE(actual, expected, (test::Tolerance{1e-6, 0.0}));  // one f32 division and subtraction
  EXPECT_EQ(out[0], -1.0f);
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_LT(out[2], 0.0f);  // 127 is just below 127.5
  EXPECT_GT(out[3], 0.0f);

  std::vector<bf16> half(12);
  preprocess_to_bf16(image, half.data());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(half[i].bits, float_to_bf16(out[i]).bits) << i;

  // Float pixels (a resize's output) go through the same float32 division and subtraction.
  FloatImage floats(1, 2, 3);
  const float fvalues[6] = {0.0f, 255.0f, 127.5f, 3.25f, 200.7f, 254.99f};
  std::copy(fvalues, fvalues + 6, floats.pixels.begin());
  std::vector<float> fout(6);
  preprocess_to_float(floats, fout.data());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fout[i], fvalues[i] / 127.5f - 1.0f) << i;
  EXPECT_EQ(fout[2], 0.0f);
  std::vector<bf16> fhalf(6);
  preprocess_to_bf16(floats, fhalf.data());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fhalf[i].bits, float_to_bf16(fout[i]).bits) << i;

  Image grey(2, 2, 1);
  EXPECT_THROW(preprocess_to_float(grey, out.data()), Error);
}

TEST(Grey, LumaWeights) {
  Image image(1, 3, 3);
  const uint8_t values[9] = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  std::copy(values, values + 9, image.pixels.begin());
  Image g = to_grey(image);
  ASSERT_EQ(g.channels, 1);
  EXPECT_EQ(g.pixels[0], 76);   // 0.299 * 255 = 76.2
  EXPECT_EQ(g.pixels[1], 150);  // 0.587 * 255 = 149.7
  EXPECT_EQ(g.pixels[2], 18);   // 2.99 + 11.74 + 3.42 = 18.15
}

}  // namespace
}  // namespace alz::data
