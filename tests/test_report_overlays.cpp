// The report gallery's Grad-CAM overlays (train/report_overlays.h): drawn from the checkpoint's
// weights for the predicted (wrong) class, the same pixels render_gradcam_overlay gives for
// that model and image, and an image that cannot be read keeps a caption saying why.
// Run: ctest --test-dir build -R ReportOverlays
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/image.h"
#include "models/checkpoint.h"
#include "support/compare.h"
#include "tensor/safetensors.h"
#include "train/gradcam.h"
#include "train/inference.h"
#include "train/report_overlays.h"

namespace alz::train {
namespace {

data::Image slice(int seed) {  // a grey blob on black, different per seed
  data::Image image(40, 36, 3);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      const int dy = y - 14 - seed, dx = x - 12 - 2 * seed;
      const uint8_t v = static_cast<uint8_t>(dy * dy + dx * dx < 90 ? 200 - 7 * seed : 15 + (x * 3 + y) % 11);
      for (int c = 0; c < 3; ++c) image.at(y, x, c) = v;
    }
  return image;
}

TEST(ReportOverlays, EveryEntryGetsTheBestCheckpointsGradCam) {
  const std::string dir = test::fresh_temp_dir("report_overlays");
  const ResNetV2Config config = resnet_v2_config("resnetv2-tiny", 3, 32, 32);
  // A head that reads every channel with weight +1 for each class (a map that is not zero) in
  // the checkpoint; the same with -1 (a zero map after the ReLU) for the weights training holds
  // later, which must not be the ones explained.
  ResNetV2 fresh(config, 7);
  save_checkpoint(dir + "/fresh.safetensors", fresh);
  for (const float sign : {1.0f, -1.0f}) {
    SafetensorsFile file = load_safetensors(dir + "/fresh.safetensors");
    for (NamedTensor& t : file.tensors)
      if (t.name == "predictions/kernel")
        for (int64_t i = 0; i < t.tensor.numel(); ++i) t.tensor.data<float>()[i] = sign;
    save_safetensors(dir + (sign > 0 ? "/best.safetensors" : "/other.safetensors"), file.tensors, file.metadata);
  }
  ResNetV2 best(config, 1), other(config, 1);
  load_checkpoint(dir + "/best.safetensors", best, LoadMode::Strict);
  load_checkpoint(dir + "/other.safetensors", other, LoadMode::Strict);

  std::vector<GalleryCell> gallery(1);
  gallery[0].true_class = 0;
  gallery[0].predicted_class = 2;
  for (int i = 0; i < 2; ++i) {
    const std::string path = dir + "/slice" + std::to_string(i) + ".png";
    data::write_png(path, slice(i));
    GalleryEntry entry;
    entry.path = path;
    entry.predicted_class = 2;
    gallery[0].entries.push_back(entry);
  }
  GalleryEntry missing;
  missing.path = dir + "/gone.png";
  missing.predicted_class = 1;
  gallery[0].entries.push_back(missing);

  const int drawn = add_gradcam_overlays(gallery, dir + "/best.safetensors", config, Device::cpu(),
                                         data::ResizeMethod::Keras, {"A", "B", "C"});
  EXPECT_EQ(drawn, 2);
  for (int i = 0; i < 2; ++i) {
    const GalleryEntry& entry = gallery[0].entries[i];
    EXPECT_EQ(entry.overlay_caption, "Grad-CAM, C");
    ASSERT_FALSE(entry.overlay_png.empty());
    const data::Image decoded =
        data::decode_image_memory(entry.overlay_png.data(), entry.overlay_png.size(), "overlay");
    EXPECT_EQ(decoded.height, kGalleryOverlayHeight);
    EXPECT_EQ(decoded.width, kGalleryOverlayWidth);
    // The same pixels as explaining the checkpoint's own model directly.
    Tensor input = Tensor::empty({1, 32, 32, 3});
    load_model_input(entry.path, 32, 32, data::ResizeMethod::Keras, input.data<float>());
    EXPECT_EQ(entry.overlay_png,
              data::encode_png(render_gradcam_overlay(best, input, kGalleryOverlayHeight, kGalleryOverlayWidth, 2)));
    EXPECT_NE(entry.overlay_png,
              data::encode_png(render_gradcam_overlay(other, input, kGalleryOverlayHeight, kGalleryOverlayWidth, 2)));
  }
  EXPECT_TRUE(gallery[0].entries[2].overlay_png.empty());
  EXPECT_NE(gallery[0].entries[2].overlay_caption.find("no Grad-CAM: "), std::string::npos);
  EXPECT_NE(gallery[0].entries[2].overlay_caption.find("gone.png"), std::string::npos);
}

}  // namespace
}  // namespace alz::train
