// What the training run does differently when it is one rank of a data-parallel run
// (dist/communicator.h; launched as `mpirun -np N alz train ...`): the device of the rank, the
// sums of the epoch's loss and accuracy over ranks, and validation over the ranks' shards
// gathered into one set of predictions in the single-process order, so every rank computes the
// same metrics (the learning-rate schedule and early stopping depend on them). With a world of
// one every function here is what the single-process run already did.
// Tested under mpirun by tests/dist/: ctest --test-dir build -R Dist
#pragma once
#include <string>
#include <vector>

#include "data/loader.h"
#include "dist/communicator.h"
#include "models/resnet_v2.h"
#include "train/evaluate.h"
#include "train/metrics.h"

namespace alz::train {

// A CUDA device for the rank: the GPU of its local rank (one process per GPU); a CPU stays.
Device device_for_rank(Device device, const dist::Communicator& comm);

// The sum over ranks of a host value.
double sum_across_ranks(double value, dist::Communicator& comm);
int64_t sum_across_ranks(int64_t value, dist::Communicator& comm);

// The data with its "val" split cut to this rank's contiguous share [r*N/W, (r+1)*N/W) of the
// validation samples (evaluation has no gradient, so the shares need not be whole batches);
// first_sample receives r*N/W. A world of one gets the data unchanged.
data::DatasetIndex validation_shard(const data::DatasetIndex& index, const dist::Communicator& comm,
                                    int64_t& first_sample);

// Validation over the ranks' shares (a loader over validation_shard): the predictions are
// gathered and put back in sample order (the order of the single-process evaluation loader;
// `samples` then indexes the whole validation split), the same on every rank, so that the
// metrics, the best checkpoint's predictions and the report are those of one process. A world
// of one is predict_loader() (train/evaluate.h).
Predictions predict_across_ranks(ResNetV2& model, data::Loader& loader, int64_t classes, dist::Communicator& comm,
                                 int64_t first_sample);

}  // namespace alz::train
