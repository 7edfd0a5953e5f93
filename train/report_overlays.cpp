// Grad-CAM overlays for the report's gallery of misclassified slices (train/report_overlays.h).
#include "train/report_overlays.h"

#include <cstdio>

#include "core/error.h"
#include "data/image.h"
#include "models/checkpoint.h"
#include "train/gradcam.h"
#include "train/inference.h"

namespace alz::train {

int add_gradcam_overlays(std::vector<GalleryCell>& gallery, const std::string& weights, const ResNetV2Config& config,
                         Device device, data::ResizeMethod resize, const std::vector<std::string>& class_names) {
  int added = 0;
  if (gallery.empty()) return added;
  ResNetV2 model(config, 0);
  load_checkpoint(weights, model, LoadMode::Strict);  // the best epoch: the one the gallery shows
  model.to(device);
  const int height = config.input_height, width = config.input_width;
  for (GalleryCell& cell : gallery) {
    for (GalleryEntry& entry : cell.entries) {
      try {
        Tensor input = Tensor::empty({1, height, width, 3});
        load_model_input(entry.path, height, width, resize, input.data<float>());
        const data::Image overlay =
            render_gradcam_overlay(model, input, kGalleryOverlayHeight, kGalleryOverlayWidth, entry.predicted_class);
        entry.overlay_png = data::encode_png(overlay);
        const size_t c = static_cast<size_t>(entry.predicted_class);
        entry.overlay_caption = "Grad-CAM, " + (c < class_names.size() ? class_names[c] : std::to_string(c));
        ++added;
      } catch (const Error& error) {  // the page still shows the thumbnail and says why
        entry.overlay_caption = std::string("no Grad-CAM: ") + error.what();
      }
    }
  }
  return added;
}

}  // namespace alz::train
