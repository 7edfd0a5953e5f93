// Tests of tensor/safetensors.h: bit-exact round trips, a file written byte by byte as the format
// defines, every kind of corrupt file, atomic writes, checking against a model (strict and
// partial), and the layout tools/export_keras_weights.py writes (Keras names, HWIO kernels).
//
//   cmake --build build --target test_safetensors && ./build/tests/test_safetensors
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "core/error.h"
#include "support/compare.h"
#include "tensor/safetensors.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

std::string le64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// A file with the given header text and `data_bytes` bytes of data (values 0, 1, 2, ...).
std::string write_file(const std::string& path, const std::string& header, size_t data_bytes) {
  std::string data(data_bytes, '\0');
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<char>(i * 37 + 11);
  return write_bytes(path, le64(header.size()) + header + data);
}

// Expects load_safetensors(path) to throw alz::Error whose message names the file and `reason`.
void expect_load_error(const std::string& path, const std::string& reason) {
  try {
    load_safetensors(path);
    ADD_FAILURE() << "loading " << path << " did not throw; expected: " << reason;
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << "message does not name the file: " << message;
    EXPECT_NE(message.find(reason), std::string::npos) << "expected '" << reason << "' in: " << message;
  }
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------- round trips

TEST(Safetensors, RoundTripIsBitExactForEveryDtypeWithMetadata) {
  std::string dir = test::fresh_temp_dir("st_round_trip");
  Generator gen(7);
  Tensor special = Tensor::empty({6});  // NaN payload, infinities, -0, a denormal survive as bits
  const uint32_t bits[6] = {0x7fc12345u, 0x7f800000u, 0xff800000u, 0x80000000u, 0x00000001u, 0x3f800000u};
  std::memcpy(special.raw_data(), bits, sizeof bits);
  Tensor labels = Tensor::empty({3}, DType::I32);
  const int32_t label_values[3] = {0, -5, 2147483647};
  std::memcpy(labels.raw_data(), label_values, sizeof label_values);
  std::vector<NamedTensor> tensors = {
      {"conv/kernel", Tensor::normal({3, 3, 5, 7}, gen)},  // odd HWIO
      {"f64/values", Tensor::normal({1, 3}, gen, 0.0, 1.0, DType::F64)},
      {"bf16/values", Tensor::normal({5, 3}, gen, 0.0, 1.0, DType::BF16)},
      {"special", special},
      {"scalar", Tensor::full({}, 2.5, DType::F64)},  // 0-d: one element
      {"empty/f32", Tensor::empty({0, 3})},           // begin == end
      {"empty/bf16", Tensor::empty({4, 0}, DType::BF16)},
      {"single", Tensor::normal({1}, gen)},
      {"labels", labels},
  };
  std::map<std::string, std::string> metadata = {
      {"model", "resnet152v2"}, {"class_names", "[\"a\",\"b\"]"}, {"note", "caf\xc3\xa9 \n\t\\"}};
  std::string path = dir + "/w.safetensors";
  save_safetensors(path, tensors, metadata);

  SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.path, path);
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {  // written and read back in the given order
    SCOPED_TRACE(tensors[i].name);
    EXPECT_EQ(file.tensors[i].name, tensors[i].name);
    EXPECT_EQ(file.tensors[i].tensor.shape(), tensors[i].tensor.shape());
    EXPECT_EQ(file.tensors[i].tensor.dtype(), tensors[i].tensor.dtype());
    EXPECT_TRUE(file.tensors[i].tensor.device().is_cpu());
    EXPECT_TRUE(test::bitwise_equal(file.tensors[i].tensor, tensors[i].tensor));
  }
  EXPECT_EQ(file.find("scalar")->numel(), 1);
  EXPECT_EQ(file.find("scalar")->at({}), 2.5);
  EXPECT_EQ(file.find("absent"), nullptr);

  // Layout: 8-byte length, a header padded to a multiple of 8, then exactly the data.
  std::ifstream in(path, std::ios::binary);
  char prefix[8];
  in.read(prefix, 8);
  uint64_t header_length = 0;
  std::memcpy(&header_length, prefix, 8);
  EXPECT_EQ(header_length % 8, 0u);
  size_t data_bytes = 0;
  for (const NamedTensor& named : tensors) data_bytes += named.tensor.nbytes();
  EXPECT_EQ(fs::file_size(path), 8 + header_length + data_bytes);
}

TEST(Safetensors, EmptyFileListRoundTrips) {
  std::string path = test::fresh_temp_dir("st_empty") + "/none.safetensors";
  save_safetensors(path, {});
  SafetensorsFile file = load_safetensors(path);
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_TRUE(file.metadata.empty());
}

// A file spelled out byte by byte as the format defines: the reader agrees with the spec, not
// only with our own writer. The header lists "b" first although its data comes second.
TEST(Safetensors, ReadsAFileWrittenByHandFromTheSpec) {
  std::string header = R"({"b":{"dtype":"F64","shape":[],"data_offsets":[8,16]},)"
                       R"("__metadata__":{"format":"pt"},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("c":{"dtype":"BF16","shape":[1,2],"data_offsets":[16,20]}})";
  header += "   ";  // trailing spaces are allowed padding
  std::string bytes = le64(header.size()) + header;
  const unsigned char data[] = {
      0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x10, 0xc0,  // a = [1.5f, -2.25f]
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x40,  // b = 3.0
      0x80, 0x3f, 0x40, 0xc0,                          // c = [[1.0, -3.0]] in bf16
  };
  bytes.append(reinterpret_cast<const char*>(data), sizeof data);
  std::string path = write_bytes(test::fresh_temp_dir("st_by_hand") + "/hand.safetensors", bytes);

  SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"a", "b", "c"}));  // data-section order
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.find("a")->to_vector(), (std::vector<double>{1.5, -2.25}));
  EXPECT_EQ(file.find("b")->ndim(), 0);
  EXPECT_EQ(file.find("b")->dtype(), DType::F64);
  EXPECT_EQ(file.find("b")->to_vector(), (std::vector<double>{3.0}));
  EXPECT_EQ(file.find("c")->shape(), (Shape{1, 2}));
  EXPECT_EQ(file.find("c")->to_vector(), (std::vector<double>{1.0, -3.0}));
}

// ---------------------------------------------------------------- corrupt files, table-driven

struct CorruptCase {
  const char* name;
  const char* header;  // JSON header text
  size_t data_bytes;   // bytes of data after the header
  const char* reason;  // expected in the message
};

const CorruptCase kCorruptCases[] = {
    {"InvalidJson", R"({"a": {"dtype": "F32", )", 0, "header is not valid JSON"},
    {"InvalidUtf8", "{\"a\xff\": 1}", 0, "header is not valid JSON"},
    {"HeaderIsAnArray", "[1, 2, 3]", 0, "header is a JSON array, expected an object"},
    {"HeaderIsAString", "\"weights\"", 0, "header is a JSON string, expected an object"},
    {"EntryNotAnObject", R"({"a": 5})", 0, "tensor 'a': entry is a JSON number"},
    {"MissingDtype", R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4, "tensor 'a': entry has no \"dtype\""},
    {"MissingShape", R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4, "tensor 'a': entry has no \"shape\""},
    {"MissingOffsets", R"({"a":{"dtype":"F32","shape":[1]}})", 4, "tensor 'a': entry has no \"data_offsets\""},
    {"DtypeNotString", R"({"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4, "\"dtype\" is a JSON number"},
    {"UnsupportedF16", R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4,
     "dtype \"F16\" is not supported by alz"},
    {"UnsupportedI64", R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8,
     "dtype \"I64\" is not supported by alz"},
    {"UnknownDtype", R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4, "unknown dtype \"F33\""},
    {"ShapeNotArray", R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,16]}})", 16, "\"shape\" is a JSON number"},
    {"NegativeDimension", R"({"a":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}})", 8,
     "not a non-negative integer: -1"},
    {"FractionalDimension", R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8,
     "not a non-negative integer: 2.5"},
    {"StringDimension", R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8,
     "not a non-negative integer: \"2\""},
    {"AbsurdDimension", R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", 8,
     "absurd dimension"},
    {"ElementCountOverflows", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8,
     "more elements than any file can hold"},
    {"OffsetsNotAPair", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, "expected [begin, end]"},
    {"OffsetsNotIntegers", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})", 4,
     "are not non-negative integers"},
    {"NegativeOffset", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4,
     "are not non-negative integers"},
    {"EndBeforeBegin", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8, "end before they begin"},
    {"SizeDisagreesWithShape", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8,
     "span 8 bytes, but shape [3] of F32 needs 12 bytes"},
    {"OffsetsPastTheData", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8,
     "run past the end of the data section, which has only 8 bytes"},
    {"OverlappingTensors",
     R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
     12, "tensors 'a' and 'b' overlap"},
    {"GapBetweenTensors",
     R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
     20, "bytes [8, 12) of the data section belong to no tensor"},
    {"GapAtTheStart", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
     "bytes [0, 4) of the data section belong to no tensor"},
    {"TrailingBytes", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12,
     "4 trailing bytes belong to no tensor"},
    {"DuplicateNames",
     R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
     8, "names 'a' more than once"},
    {"MetadataNotAnObject", R"({"__metadata__":["x"]})", 0, "\"__metadata__\" is a JSON array"},
    {"MetadataValueNotString", R"({"__metadata__":{"classes":4}})", 0,
     "\"__metadata__\" value of 'classes' is a JSON number"},
};

class CorruptFile : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptFile, ThrowsNamingTheFileAndTheReason) {
  const CorruptCase& c = GetParam();
  std::string dir = test::fresh_temp_dir(std::string("st_corrupt_") + c.name);
  expect_load_error(write_file(dir + "/bad.safetensors", c.header, c.data_bytes), c.reason);
}

INSTANTIATE_TEST_SUITE_P(Safetensors, CorruptFile, ::testing::ValuesIn(kCorruptCases),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------- files that are not safetensors

TEST(SafetensorsFileLevel, MissingFile) {
  std::string dir = test::fresh_temp_dir("st_missing");
  expect_load_error(dir + "/absent.safetensors", "cannot open: No such file or directory");
}

TEST(SafetensorsFileLevel, DirectoryIsNotAFile) {
  std::string dir = test::fresh_temp_dir("st_directory");
  expect_load_error(dir, "not a regular file");
}

TEST(SafetensorsFileLevel, EmptyAndShortFiles) {
  std::string dir = test::fresh_temp_dir("st_short");
  expect_load_error(write_bytes(dir + "/empty.safetensors", ""), "only 0 bytes, shorter than the 8-byte header length");
  expect_load_error(write_bytes(dir + "/five.safetensors", std::string("\x02\x00\x00\x00\x00", 5)), "only 5 bytes");
}

TEST(SafetensorsFileLevel, HeaderLengthPastTheEndOfTheFile) {
  std::string dir = test::fresh_temp_dir("st_header_past_end");
  expect_load_error(write_bytes(dir + "/cut.safetensors", le64(1000) + "{\"a\":"),
                    "header length field says 1000 bytes, but only 5 bytes follow it");
}

TEST(SafetensorsFileLevel, AbsurdHeaderLength) {
  std::string dir = test::fresh_temp_dir("st_header_absurd");
  expect_load_error(write_bytes(dir + "/huge.safetensors", le64(200'000'000) + "{}"),
                    "header length field says 200000000 bytes, over the format's limit");
}

TEST(SafetensorsFileLevel, JpegAndTextAreNotSafetensors) {
  std::string dir = test::fresh_temp_dir("st_not_safetensors");
  const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00};
  std::string jpeg_path =
      write_bytes(dir + "/slice.jpg", std::string(reinterpret_cast<const char*>(jpeg), sizeof jpeg));
  expect_load_error(jpeg_path, "not a safetensors file");
  expect_load_error(write_bytes(dir + "/notes.txt", "hello, this is a plain text file\n"), "not a safetensors file");
  expect_load_error(write_bytes(dir + "/tiny.txt", le64(1) + "{"), "not a safetensors file");
}

TEST(SafetensorsFileLevel, TruncatedDataSection) {
  std::string dir = test::fresh_temp_dir("st_truncated");
  Generator gen(3);
  std::string path = dir + "/w.safetensors";
  save_safetensors(path, {{"a", Tensor::normal({3, 5}, gen)}, {"b", Tensor::normal({7}, gen)}});
  fs::resize_file(path, fs::file_size(path) - 6);
  expect_load_error(path, "tensor 'b': data offsets [60,88] run past the end of the data section");
}

// Seeded random damage to a valid file (bytes of the length and header changed, the file cut
// short or extended): loading either succeeds or throws alz::Error, never anything else, and
// never reads out of bounds (run under ALZ_SANITIZE=ON to check the latter).
TEST(SafetensorsFileLevel, RandomDamageOnlyEverThrowsAlzError) {
  std::string dir = test::fresh_temp_dir("st_damage");
  Generator gen(29);
  std::string good = dir + "/good.safetensors";
  save_safetensors(good,
                   {{"a", Tensor::normal({3, 5}, gen)},
                    {"b", Tensor::normal({2}, gen, 0.0, 1.0, DType::BF16)},
                    {"c", Tensor::full({}, 1.0, DType::F64)}},
                   {{"k", "v"}});
  std::ifstream in(good, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), {});
  uint64_t header_length = 0;
  std::memcpy(&header_length, original.data(), 8);
  std::mt19937 rng(31);
  int errors = 0, loaded = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = original;
    int kind = trial % 4;
    if (kind == 0) {  // one to three bytes of the header changed
      for (int k = 0; k <= static_cast<int>(rng() % 3); ++k)
        bytes[8 + rng() % header_length] = static_cast<char>(rng() % 256);
    } else if (kind == 1) {  // one byte of the length prefix changed
      bytes[rng() % 8] = static_cast<char>(rng() % 256);
    } else if (kind == 2) {  // cut short
      bytes.resize(rng() % bytes.size());
    } else {  // header digits changed: offsets and shapes off by a little
      size_t at = bytes.find_first_of("0123456789", 8 + rng() % header_length);
      if (at < 8 + header_length) bytes[at] = static_cast<char>('0' + rng() % 10);
    }
    std::string path = write_bytes(dir + "/damaged.safetensors", bytes);
    try {
      load_safetensors(path);
      ++loaded;
    } catch (const Error& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "trial " << trial << " threw something other than alz::Error: " << e.what();
    }
  }
  EXPECT_GT(errors, 200) << "the damage should be caught most of the time (" << loaded << " loaded)";
}

// ---------------------------------------------------------------- atomic writing

TEST(SafetensorsWrite, OverwritesAndLeavesNoTempFile) {
  std::string dir = test::fresh_temp_dir("st_overwrite");
  Generator gen(11);
  std::string path = dir + "/w.safetensors";
  save_safetensors(path, {{"a", Tensor::normal({4}, gen)}});
  Tensor second = Tensor::normal({2, 3}, gen, 0.0, 1.0, DType::F64);
  save_safetensors(path, {{"b", second}}, {{"step", "2"}});
  SafetensorsFile file = load_safetensors(path);
  ASSERT_EQ(file.names(), std::vector<std::string>{"b"});
  EXPECT_TRUE(test::bitwise_equal(*file.find("b"), second));
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"w.safetensors"});
}

TEST(SafetensorsWrite, ParentIsAFile) {
  std::string dir = test::fresh_temp_dir("st_parent_is_file");
  write_bytes(dir + "/plain", "not a folder");
  std::string path = dir + "/plain/w.safetensors";
  try {
    save_safetensors(path, {{"a", Tensor::ones({2})}});
    ADD_FAILURE() << "writing under a regular file did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot create"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"plain"});
}

TEST(SafetensorsWrite, FailedRenameRemovesTheTempFile) {
  std::string dir = test::fresh_temp_dir("st_rename_fails");
  std::string path = dir + "/w.safetensors";
  fs::create_directories(path + "/occupied");  // a non-empty folder cannot be replaced by a file
  EXPECT_THROW(save_safetensors(path, {{"a", Tensor::ones({2})}}), Error);
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"w.safetensors"});
  EXPECT_TRUE(fs::is_directory(path));
}

// A write that fails half way (the file-size limit stops it) leaves the previous checkpoint
// as it was and no temp file. Works as root too, unlike a read-only folder.
TEST(SafetensorsWrite, FailureHalfWayKeepsThePreviousFile) {
  std::string dir = test::fresh_temp_dir("st_half_way");
  Generator gen(5);
  std::string path = dir + "/w.safetensors";
  Tensor previous = Tensor::normal({5, 3}, gen);
  save_safetensors(path, {{"a", previous}});
  std::string previous_bytes;
  {
    std::ifstream in(path, std::ios::binary);
    previous_bytes.assign(std::istreambuf_iterator<char>(in), {});
  }

  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 64 * 1024;  // the new file needs 4 MB
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  std::string message;
  try {
    save_safetensors(path, {{"a", Tensor::normal({1024, 1024}, gen)}});
  } catch (const Error& e) {
    threw = true;
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  ASSERT_TRUE(threw);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("cannot write"), std::string::npos) << message;
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"w.safetensors"});
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), previous_bytes);
  EXPECT_TRUE(test::bitwise_equal(*load_safetensors(path).find("a"), previous));
}

TEST(SafetensorsWrite, RejectsBadNamesAndKeepsThePreviousFile) {
  std::string dir = test::fresh_temp_dir("st_bad_names");
  std::string path = dir + "/w.safetensors";
  save_safetensors(path, {{"keep", Tensor::ones({3})}});
  auto expect_rejected = [&](const std::vector<NamedTensor>& tensors, const std::map<std::string, std::string>& meta,
                             const std::string& reason) {
    try {
      save_safetensors(path, tensors, meta);
      ADD_FAILURE() << "no error; expected " << reason;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  };
  expect_rejected({{"a", Tensor::ones({1})}, {"a", Tensor::ones({2})}}, {}, "tensor name 'a' appears twice");
  expect_rejected({{"", Tensor::ones({1})}}, {}, "empty name");
  expect_rejected({{"__metadata__", Tensor::ones({1})}}, {}, "reserved");
  expect_rejected({{"u", Tensor()}}, {}, "tensor 'u' is undefined");
  expect_rejected({{"a", Tensor::ones({1})}}, {{"bad", "\xff\xfe"}}, "valid UTF-8");
  EXPECT_EQ(load_safetensors(path).names(), std::vector<std::string>{"keep"});
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"w.safetensors"});
}

// ---------------------------------------------------------------- checking against a model

TEST(SafetensorsCheck, StrictReportsEveryMismatchTogetherAndCopiesNothing) {
  std::string path = test::fresh_temp_dir("st_strict") + "/w.safetensors";
  Generator gen(13);
  save_safetensors(path, {{"a", Tensor::normal({2, 3}, gen)},
                          {"b", Tensor::normal({4}, gen)},
                          {"c", Tensor::normal({5}, gen)},
                          {"extra", Tensor::normal({1}, gen)}});
  SafetensorsFile file = load_safetensors(path);
  Tensor a = Tensor::full({2, 3}, -7.0);
  std::vector<NamedTensor> model = {
      {"a", a}, {"b", Tensor::zeros({5})}, {"c", Tensor::zeros({5}, DType::F64)}, {"d", Tensor::zeros({7})}};
  try {
    load_into(file, model, LoadMode::Strict);
    ADD_FAILURE() << "strict load of a mismatching file did not throw";
  } catch (const Error& e) {
    std::string message = e.what();
    for (const char* part : {"4 mismatches", "shape mismatch: 'b' is (4,) in the file, the model expects (5,)",
                             "dtype mismatch: 'c' is f32 in the file, the model expects f64",
                             "missing: 'd' (7,) f32 is not in the file", "unexpected: 'extra' (1,)"})
      EXPECT_NE(message.find(part), std::string::npos) << "no '" << part << "' in: " << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
  }
  EXPECT_EQ(a.to_vector(), std::vector<double>(6, -7.0));  // nothing was copied

  LoadReport report = compare_tensors(file, expected_from(model));
  EXPECT_FALSE(report.exact());
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(report.converted_dtype, std::vector<std::string>{"c"});
  EXPECT_EQ(report.skipped_shape_mismatch, std::vector<std::string>{"b"});
  EXPECT_EQ(report.skipped_unexpected, std::vector<std::string>{"extra"});
  EXPECT_EQ(report.missing, std::vector<std::string>{"d"});
}

TEST(SafetensorsCheck, StrictLoadOfAMatchingFileCopiesEverything) {
  std::string path = test::fresh_temp_dir("st_strict_ok") + "/w.safetensors";
  Generator gen(17);
  Tensor w = Tensor::normal({3, 1, 5}, gen), v = Tensor::normal({2}, gen, 0.0, 1.0, DType::BF16);
  save_safetensors(path, {{"w", w}, {"v", v}});
  std::vector<NamedTensor> model = {{"v", Tensor::zeros({2}, DType::BF16)}, {"w", Tensor::zeros({3, 1, 5})}};
  LoadReport report = load_into(load_safetensors(path), model, LoadMode::Strict);
  EXPECT_TRUE(report.exact()) << report.describe();
  EXPECT_TRUE(test::bitwise_equal(model[1].tensor, w));  // written through the handle
  EXPECT_TRUE(test::bitwise_equal(model[0].tensor, v));
  EXPECT_NO_THROW(require_exact(report));
}

// Transfer learning: a 1000-class checkpoint into a 4-class model loads everything but the head.
TEST(SafetensorsCheck, PartialLoadSkipsTheHeadAndListsIt) {
  std::string path = test::fresh_temp_dir("st_partial") + "/imagenet.safetensors";
  Generator gen(19);
  Tensor kernel = Tensor::normal({7, 7, 3, 5}, gen), gamma = Tensor::normal({5}, gen);
  save_safetensors(path, {{"conv1_conv/kernel", kernel},
                          {"post_bn/gamma", gamma},
                          {"predictions/kernel", Tensor::normal({5, 1000}, gen)},
                          {"predictions/bias", Tensor::normal({1000}, gen)}});
  Tensor head = Tensor::full({5, 4}, 0.25);
  std::vector<NamedTensor> model = {{"conv1_conv/kernel", Tensor::zeros({7, 7, 3, 5})},
                                    {"post_bn/gamma", Tensor::zeros({5}, DType::F64)},
                                    {"post_bn/beta", Tensor::zeros({5})},
                                    {"predictions/kernel", head},
                                    {"predictions/bias", Tensor::zeros({4})}};
  LoadReport report = load_into(load_safetensors(path), model, LoadMode::Partial);
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"conv1_conv/kernel", "post_bn/gamma"}));
  EXPECT_EQ(report.converted_dtype, std::vector<std::string>{"post_bn/gamma"});
  EXPECT_EQ(report.skipped_shape_mismatch, (std::vector<std::string>{"predictions/kernel", "predictions/bias"}));
  EXPECT_EQ(report.missing, std::vector<std::string>{"post_bn/beta"});
  EXPECT_TRUE(report.skipped_unexpected.empty());
  EXPECT_TRUE(test::bitwise_equal(model[0].tensor, kernel));
  ALZ_EXPECT_CLOSE(model[1].tensor, gamma, (test::Tolerance{0.0, 0.0}));  // f32 -> f64 is exact
  EXPECT_EQ(head.to_vector(), std::vector<double>(20, 0.25));             // skipped: untouched
  std::string text = report.describe();
  for (const char* part :
       {"loaded 2 tensors", "'predictions/kernel' is (5, 1000) in the file, the model expects (5, 4)",
        "missing: 'post_bn/beta'", path.c_str()})
    EXPECT_NE(text.find(part), std::string::npos) << "no '" << part << "' in: " << text;
}

// ---------------------------------------------------------------- the Keras export layout

// The tensors keras.applications' ResNetV2 has, in its layer order, with Keras names and shapes
// (conv kernels HWIO, Dense (in, out)). `width` 64 is the real model; smaller widths are test
// models. Written from the Keras model definition, independently of the model code.
std::vector<ExpectedTensor> keras_resnetv2_layout(int64_t width, const std::vector<int>& blocks, int64_t classes) {
  std::vector<ExpectedTensor> out;
  auto conv = [&](const std::string& name, int64_t k, int64_t cin, int64_t cout, bool bias) {
    out.push_back({name + "/kernel", {k, k, cin, cout}, DType::F32});
    if (bias) out.push_back({name + "/bias", {cout}, DType::F32});
  };
  auto bn = [&](const std::string& name, int64_t c) {
    for (const char* w : {"gamma", "beta", "moving_mean", "moving_variance"})
      out.push_back({name + "/" + w, {c}, DType::F32});
  };
  conv("conv1_conv", 7, 3, width, true);
  int64_t cin = width;
  for (int stack = 0; stack < 4; ++stack) {
    int64_t filters = width << stack;
    for (int block = 1; block <= blocks[stack]; ++block) {
      std::string prefix = "conv" + std::to_string(stack + 2) + "_block" + std::to_string(block);
      bn(prefix + "_preact_bn", cin);
      if (block == 1) conv(prefix + "_0_conv", 1, cin, 4 * filters, true);
      conv(prefix + "_1_conv", 1, cin, filters, false);
      bn(prefix + "_1_bn", filters);
      conv(prefix + "_2_conv", 3, filters, filters, false);
      bn(prefix + "_2_bn", filters);
      conv(prefix + "_3_conv", 1, filters, 4 * filters, true);
      cin = 4 * filters;
    }
  }
  bn("post_bn", cin);
  if (classes > 0) {
    out.push_back({"predictions/kernel", {cin, classes}, DType::F32});
    out.push_back({"predictions/bias", {classes}, DType::F32});
  }
  return out;
}

// (total, moving statistics) as Keras's model.summary() counts them.
std::pair<int64_t, int64_t> count_parameters(const std::vector<ExpectedTensor>& layout) {
  int64_t total = 0, moving = 0;
  for (const ExpectedTensor& t : layout) {
    total += shape_numel(t.shape);
    if (t.name.find("/moving_") != std::string::npos) moving += shape_numel(t.shape);
  }
  return {total, moving};
}

// The layout reproduces Keras's published parameter counts, so its names and shapes are Keras's.
TEST(KerasLayout, ParameterCountsMatchKeras) {
  const std::vector<int> r152 = {3, 8, 36, 3}, r50 = {3, 4, 6, 3};
  EXPECT_EQ(count_parameters(keras_resnetv2_layout(64, r152, 1000)),
            std::make_pair(int64_t{60'380'648}, int64_t{143'744}));
  EXPECT_EQ(count_parameters(keras_resnetv2_layout(64, r152, 4)),
            std::make_pair(int64_t{58'339'844}, int64_t{143'744}));
  EXPECT_EQ(count_parameters(keras_resnetv2_layout(64, r50, 1000)),
            std::make_pair(int64_t{25'613'800}, int64_t{45'440}));
  // conv1 (kernel, bias) + 50 blocks x 16 tensors + 4 shortcut convs x 2 + post_bn 4 + head 2
  EXPECT_EQ(keras_resnetv2_layout(64, r152, 1000).size(), 2u + 50 * 16 + 4 * 2 + 4 + 2);
}

// JSON text for a string, escaped as Python's json.dumps escapes ASCII text.
std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A file byte for byte as tools/export_keras_weights.py writes it: json.dumps with
// separators=(",", ":"), metadata first, tensors in layer order, header padded with spaces to
// a multiple of 8, F32 data end to end.
std::string write_like_export_script(const std::string& path, const std::vector<ExpectedTensor>& layout,
                                     const std::vector<std::pair<std::string, std::string>>& metadata,
                                     std::vector<NamedTensor>* written) {
  Generator gen(23);
  std::string header = "{\"__metadata__\":{", data;
  for (size_t i = 0; i < metadata.size(); ++i) {
    if (i > 0) header += ",";
    header += json_string(metadata[i].first);
    header += ":";
    header += json_string(metadata[i].second);
  }
  header += "}";
  for (const ExpectedTensor& t : layout) {
    Tensor values = Tensor::normal(t.shape, gen);
    written->push_back({t.name, values});
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i > 0) shape += ",";
      shape += std::to_string(t.shape[i]);
    }
    header += ",";
    header += json_string(t.name);
    header += ":{\"dtype\":\"F32\",\"shape\":[";
    header += shape;
    header += "],\"data_offsets\":[";
    header += std::to_string(data.size());
    header += ",";
    header += std::to_string(data.size() + values.nbytes());
    header += "]}";
    data.append(static_cast<const char*>(values.raw_data()), values.nbytes());
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  return write_bytes(path, le64(header.size()) + header + data);
}

TEST(KerasLayout, ExportScriptLayoutLoadsStrictlyAndTransfersToAnotherHead) {
  std::string dir = test::fresh_temp_dir("st_keras_layout");
  const std::vector<int> blocks = {2, 3, 2, 2};  // Keras needs 2+ blocks per stack
  std::vector<ExpectedTensor> layout = keras_resnetv2_layout(4, blocks, 10);
  std::vector<NamedTensor> written;
  std::string path = write_like_export_script(
      dir + "/tiny.safetensors", layout,
      {{"format", "alz-keras-v1"},
       {"model", "resnet152v2"},
       {"classes", "10"},
       {"class_names", "[\"c0\", \"c1\", \"c2\", \"c3\", \"c4\", \"c5\", \"c6\", \"c7\", \"c8\", \"c9\"]"},
       {"input_size", "224x224"},
       {"preprocessing", "x/127.5-1"}},
      &written);

  SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "alz-keras-v1");
  EXPECT_EQ(file.metadata.at("class_names").substr(0, 12), "[\"c0\", \"c1\",");
  EXPECT_EQ(file.metadata.size(), 6u);
  EXPECT_EQ(file.find("conv1_conv/kernel")->shape(), (Shape{7, 7, 3, 4}));  // HWIO
  EXPECT_EQ(file.find("conv2_block1_0_conv/kernel")->shape(), (Shape{1, 1, 4, 16}));
  EXPECT_EQ(file.find("conv3_block3_2_conv/kernel")->shape(), (Shape{3, 3, 8, 8}));
  EXPECT_EQ(file.find("conv5_block2_preact_bn/moving_variance")->shape(), (Shape{128}));
  EXPECT_EQ(file.find("predictions/kernel")->shape(), (Shape{128, 10}));  // (in, out)
  EXPECT_EQ(file.find("conv2_block1_1_conv/bias"), nullptr);              // no bias on _1_conv
  require_exact(compare_tensors(file, layout));

  // Fine-tuning on 4 classes: everything but the head loads, values bit for bit.
  std::vector<NamedTensor> model;
  for (const ExpectedTensor& t : keras_resnetv2_layout(4, blocks, 4)) model.push_back({t.name, Tensor::zeros(t.shape)});
  LoadReport report = load_into(file, model, LoadMode::Partial);
  EXPECT_EQ(report.skipped_shape_mismatch, (std::vector<std::string>{"predictions/kernel", "predictions/bias"}));
  EXPECT_TRUE(report.missing.empty() && report.skipped_unexpected.empty());
  EXPECT_EQ(report.loaded.size(), layout.size() - 2);
  for (size_t i = 0; i + 2 < model.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(model[i].tensor, written[i].tensor)) << model[i].name;
}

}  // namespace
}  // namespace alz
