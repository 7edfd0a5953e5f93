// The Grad-CAM overlay of every slice in the report's gallery of misclassified validation
// slices (train/report_gallery.h), explained for the class the model wrongly predicted, from
// the best checkpoint's weights (the epoch whose predictions the gallery shows), so that each
// mistake is shown with where the model looked. Images load as `alz predict` loads them
// (train/inference.h); an image that cannot be explained keeps its thumbnail and gets a caption
// saying why. Called by Trainer::write_run_report; tested in tests/test_report_overlays.cpp.
#pragma once
#include <string>
#include <vector>

#include "data/resize.h"
#include "models/resnet_v2.h"
#include "train/report_gallery.h"

namespace alz::train {

inline constexpr int kGalleryOverlayHeight = 112, kGalleryOverlayWidth = 132;  // slice + colour bar

// Loads `weights` into a model of `config` on `device` and fills overlay_png and overlay_caption
// of every entry; returns how many overlays were drawn.
int add_gradcam_overlays(std::vector<GalleryCell>& gallery, const std::string& weights, const ResNetV2Config& config,
                         Device device, data::ResizeMethod resize, const std::vector<std::string>& class_names);

}  // namespace alz::train
