// Every weights file alz reads or writes, behind one entry point: safetensors (alz's own
// checkpoints), Keras's legacy .h5 (weights only or a full model), Keras 3's .weights.h5 and
// .keras archives. The format is told by the file's first bytes (HDF5 signature, zip signature,
// a safetensors header), not by its name.
//
//   SafetensorsFile w = read_weights_file("resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5");
//   ResNetV2Config c = infer_resnet_v2(w);          // resnet152v2, no top (classes 0)
//   LoadReport r = load_weights_file(w, model, LoadMode::Partial);
//   std::printf("%s\n", describe_transfer(r).c_str());   // one line: loaded, skipped, initialised
//   write_keras_archive(model, "out.keras");          // Keras 3 archive, written atomically
//
// Every Keras format becomes a SafetensorsFile with Keras weight names and layouts, so the
// checks and the loading are the same as for alz's checkpoints (models/checkpoint.h).
// Tested in tests/test_keras_files.cpp and tests/test_keras_bad_input.cpp.
#pragma once
#include <string>
#include <vector>

#include "layers/module.h"
#include "models/resnet_v2.h"
#include "tensor/safetensors.h"

namespace alz {

enum class WeightsFormat { Safetensors, Hdf5, Zip };

// From the first bytes; throws alz::Error naming the file when it is none of the three.
WeightsFormat detect_weights_format(const std::string& path);

// The file's tensors in Keras names and layouts, and its metadata. For a safetensors file this is
// load_safetensors; for Keras files the metadata holds "format" (keras-h5, keras-h5-model,
// keras-weights-h5, keras) and what the file's config says ("keras_name", "classes", "input_size").
SafetensorsFile read_weights_file(const std::string& path);

bool is_keras_file(const SafetensorsFile& file);  // read from a Keras format

// The ResNetV2 the weights describe, from their names and shapes: stem filters (conv1_conv),
// blocks per stack (the convN_blockM names), filters (each stack's block-1 `_1_conv` kernel),
// classes (`predictions/kernel`; 0 when the file has no top). The name is the named model with
// that shape ("resnet152v2") or the shape's spec name ("resnetv2:stem64:2x4,2x8"); the input size
// is the file's (its config's, or a checkpoint's metadata), else 224x224. Throws a one-line
// alz::Error naming the file and what is not ResNetV2-like.
ResNetV2Config infer_resnet_v2(const SafetensorsFile& file);

// Loads into `model`. Safetensors files behave exactly as load_checkpoint. For Keras files,
// Strict mode throws one line naming the file, the number of mismatches and the first one.
LoadReport load_weights_file(const SafetensorsFile& file, Module& model, LoadMode mode);
LoadReport load_weights_file(const std::string& path, Module& model, LoadMode mode);

// One line for a transfer-learning start: what was loaded, skipped (not in the model, or another
// shape) and left at its fresh initialisation, with at most a few names of each.
std::string describe_transfer(const LoadReport& report);

// ---- writing (each the whole file through AtomicFile: nothing is left half-written) ----

void write_keras_h5(ResNetV2& model, const std::string& path);          // legacy weights (Keras 2 layout)
void write_keras_weights_h5(ResNetV2& model, const std::string& path);  // Keras 3 .weights.h5
void write_keras_archive(ResNetV2& model, const std::string& path);     // Keras 3 .keras

}  // namespace alz
