// Bad Keras files: truncated or corrupt HDF5 and zip, another architecture (ResNet v1,
// MobileNet, both made by Keras), a wrong class count, a .keras without its weights, names that
// match with shapes that do not, an HDF5 dataset and a zip member that claim huge sizes. Each
// gives one alz::Error line naming the file and the first problem; nothing is allocated for a
// claimed size past the limit; a failed export leaves nothing behind.
// Run: ctest --test-dir build -R KerasBadInput
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "models/hdf5_file.h"
#include "models/weights_file.h"
#include "models/zip_archive.h"
#include "support/compare.h"
#include "support/keras_fixtures.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// The error of reading `path` and loading it strictly into the model its weights describe (at
// the fixtures' input size); checks it is one line naming the file.
std::string load_error(const std::string& path) {
  std::string message = test::error_message([&] {
    SafetensorsFile file = read_weights_file(path);
    ResNetV2Config config = infer_resnet_v2(file);
    config.input_height = 40;
    config.input_width = 36;
    if (config.classes == 0) config.classes = 4;
    ResNetV2 model(config, 0);
    load_weights_file(file, model, LoadMode::Strict);
  });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  return message;
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

class KerasBadInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::fresh_temp_dir("keras_bad_input"); }
  std::string dir_;
  test::KerasFixtures k_;
};

TEST_F(KerasBadInput, TruncatedAndCorruptHdf5) {
  std::string bytes = read_bytes(k_.path("mini_legacy.h5"));
  write_bytes(dir_ + "/truncated.h5", bytes.substr(0, bytes.size() / 2));
  EXPECT_HAS(load_error(dir_ + "/truncated.h5"), "not a readable HDF5 file");
  std::string corrupt = bytes;
  for (size_t i = 8; i < 48; ++i) corrupt[i] = static_cast<char>(0xA5);  // the superblock after the signature
  write_bytes(dir_ + "/corrupt.h5", corrupt);
  EXPECT_HAS(load_error(dir_ + "/corrupt.h5"), "HDF5");
  write_bytes(dir_ + "/signature_only.h5", bytes.substr(0, 8));
  load_error(dir_ + "/signature_only.h5");
}

TEST_F(KerasBadInput, TruncatedAndCorruptZip) {
  std::string bytes = read_bytes(k_.path("mini.keras"));
  write_bytes(dir_ + "/truncated.keras", bytes.substr(0, bytes.size() / 2));
  EXPECT_HAS(load_error(dir_ + "/truncated.keras"), "zip");
  std::string deflated = read_bytes(k_.path("mini_deflated.keras"));
  for (size_t i = deflated.size() / 3; i < deflated.size() / 3 + 64; ++i) deflated[i] = static_cast<char>(~deflated[i]);
  write_bytes(dir_ + "/corrupt.keras", deflated);
  load_error(dir_ + "/corrupt.keras");  // a CRC or inflate error, named
}

TEST_F(KerasBadInput, OtherArchitectures) {
  EXPECT_HAS(load_error(k_.path("resnet_v1_mini.h5")), "ResNet v1");
  EXPECT_HAS(load_error(k_.path("mobilenet_mini.keras")), "DepthwiseConv2D");
}

TEST_F(KerasBadInput, WrongClassCountNamesTheHead) {
  std::string message = test::error_message([&] {
    ResNetV2 three(resnet_v2_config(k_.model, 3, k_.height, k_.width), 0);
    load_weights_file(k_.path("mini_model.h5"), three, LoadMode::Strict);
  });
  EXPECT_HAS(message, k_.path("mini_model.h5"));
  EXPECT_HAS(message, "predictions/");
  EXPECT_HAS(message, "(2 mismatches)");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST_F(KerasBadInput, NamesMatchShapesDoNot) {
  // The file's last stack has 8 filters; this model 16: same names, other shapes.
  std::string message = test::error_message([&] {
    ResNetV2 wider(resnet_v2_config("resnetv2:stem64:2x4,2x8,2x16", k_.classes, k_.height, k_.width), 0);
    load_weights_file(k_.path("mini.weights.h5"), wider, LoadMode::Strict);
  });
  EXPECT_HAS(message, "mini.weights.h5");
  EXPECT_HAS(message, "first: ");
  EXPECT_HAS(message, "conv4_block1");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST_F(KerasBadInput, ArchiveWithoutWeights) {
  std::string archive = make_zip(
      {{"metadata.json", R"({"keras_version": "3.15.1"})"}, {"config.json", read_bytes(k_.path("expected.json"))}},
      "no_weights.keras");
  write_bytes(dir_ + "/no_weights.keras", archive);
  EXPECT_HAS(load_error(dir_ + "/no_weights.keras"), "without model.weights.h5");
}

TEST_F(KerasBadInput, HugeDatasetShapeIsRefusedBeforeAllocating) {
  std::string message = load_error(k_.path("huge_shape.h5"));
  EXPECT_HAS(message, "conv1_conv/conv1_conv/kernel");
  EXPECT_HAS(message, "limit of " + std::to_string(kMaxTensorBytes) + " bytes");
}

TEST_F(KerasBadInput, HugeZipMemberIsRefusedBeforeAllocating) {
  // config.json's uncompressed size, in its local header (offset 22) and its central-directory
  // entry (offset 24), claims 0xFFFFFF00 bytes (0xFFFFFFFF would mean "see the zip64 field").
  std::string bytes = read_bytes(k_.path("mini.keras"));
  auto patch = [&](const std::string& signature, size_t size_offset, size_t name_offset) {
    for (size_t at = bytes.find(signature); at != std::string::npos; at = bytes.find(signature, at + 4))
      if (bytes.compare(at + name_offset, 11, "config.json") == 0)
        for (int i = 0; i < 4; ++i) bytes[at + size_offset + i] = static_cast<char>(i == 0 ? 0x00 : 0xFF);
  };
  patch(std::string("PK\x03\x04", 4), 22, 30);
  patch(std::string("PK\x01\x02", 4), 24, 46);
  write_bytes(dir_ + "/huge_member.keras", bytes);
  std::string message = load_error(dir_ + "/huge_member.keras");
  EXPECT_HAS(message, "config.json");
  EXPECT_HAS(message, "4294967040 bytes, more than the limit");
}

TEST_F(KerasBadInput, NotAWeightsFile) {
  write_bytes(dir_ + "/text.h5", "hello, this is not a weights file");
  EXPECT_HAS(load_error(dir_ + "/text.h5"), "not a weights file alz reads");
  write_bytes(dir_ + "/empty.keras", "");
  EXPECT_HAS(load_error(dir_ + "/empty.keras"), "it is empty");
  EXPECT_HAS(test::error_message([&] { read_weights_file(dir_ + "/absent.h5"); }), "absent.h5");
}

TEST_F(KerasBadInput, FailedExportLeavesNothing) {
  ResNetV2 model(resnet_v2_config(k_.model, k_.classes, k_.height, k_.width), 0);
  std::string target = dir_ + "/no_such_folder/out.keras";
  EXPECT_HAS(test::error_message([&] { write_keras_archive(model, target); }), "no_such_folder");
  EXPECT_FALSE(fs::exists(dir_ + "/no_such_folder"));
  // An existing file is left as it was when the write fails half-way (a folder in its place).
  fs::create_directories(dir_ + "/taken.h5");
  test::error_message([&] { write_keras_h5(model, dir_ + "/taken.h5"); });
  EXPECT_TRUE(fs::is_directory(dir_ + "/taken.h5"));
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
}

}  // namespace
}  // namespace alz
