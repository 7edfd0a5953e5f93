// CUDA graphs (tensor/cuda_graph.h) and the training step replayed as one graph
// (train/step_graph.h), against the eager step:
//   - the replayed steps of resnetv2-tiny (Adam, SGD) give the eager steps' losses, parameters,
//     BatchNorm statistics and optimizer step count;
//   - a learning rate changed between replays is the one the next replay uses;
//   - a partial batch runs eagerly beside the graph, and the next full batch replays it again;
//   - the blocks of a graph's private pool are never handed to eager allocations while the
//     graph lives, and go back to the general cache when it is destroyed;
//   - a capture that fails (a synchronisation inside it, an exception) ends cleanly with an
//     alz::Error, and the training step falls back to eager; in a data-parallel run a capture
//     that failed on any rank stops the run instead;
//   - `alz train` with --cuda-graph on and off trains the same model.
// Tolerances: kSame {1e-6, 1e-6}: deterministic cuDNN algorithms and strict f32; a replay runs
// the same kernels on the same values as the eager step, so the results agree to the last bit
// unless a reduction orders its atomics differently (none does in these kernels).
// Skips cleanly without a device.   ctest --test-dir build -L gpu -R CudaGraph
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/generator.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "models/resnet_v2.h"
#include "optim/optimizer.h"
#include "support/compare.h"
#include "support/tiny_phantoms.h"
#include "tensor/autograd.h"
#include "tensor/cuda_graph.h"
#include "tensor/cuda_runtime.h"
#include "tensor/ops.h"
#include "train/metrics.h"
#include "train/report.h"
#include "train/step_graph.h"
#include "train/trainer.h"

namespace alz {
namespace {

using test::Tolerance;
constexpr Tolerance kSame{1e-6, 1e-6};
constexpr int64_t kBatch = 6, kSize = 32, kClasses = 4;

// Strict f32 and deterministic convolution algorithms for the whole program (both sides of
// every comparison run under the same settings).
void strict_math() {
  set_conv_allow_tf32(false);
  kernels::set_gemm_allow_tf32(false);
  set_conv_algo_mode(ConvAlgoMode::Deterministic);
}

struct Batch {
  Tensor images, labels;  // (n, 32, 32, 3) f32, (n) i32, on the GPU
};

std::vector<Batch> make_batches(const std::vector<int64_t>& sizes, uint64_t seed) {
  Generator gen(seed);
  std::vector<Batch> out;
  for (int64_t n : sizes) {
    std::vector<int32_t> labels;
    for (int64_t i = 0; i < n; ++i) labels.push_back(static_cast<int32_t>((i * 7 + out.size()) % kClasses));
    out.push_back({Tensor::uniform({n, kSize, kSize, 3}, gen, -1.0, 1.0, DType::F32, Device::cuda()),
                   Tensor::from_vector(labels, {n}, Device::cuda())});
  }
  return out;
}

// A model and its optimizer on the GPU; two made with the same arguments are identical.
struct TrainRun {
  std::unique_ptr<ResNetV2> model;
  std::unique_ptr<Optimizer> optimizer;

  explicit TrainRun(const std::string& optimizer_kind) {
    model = std::make_unique<ResNetV2>(resnet_v2_config("resnetv2-tiny", kClasses, kSize, kSize), /*seed=*/3);
    model->to(Device::cuda());
    model->set_training(true);
    if (optimizer_kind == "adam")
      optimizer = std::make_unique<Adam>(model->trainable_parameters(), AdamOptions{.learning_rate = 1e-3});
    else
      optimizer =
          std::make_unique<SGD>(model->trainable_parameters(), SgdOptions{.learning_rate = 0.05, .momentum = 0.9});
  }

  // The training step, as Trainer::train_step runs it.
  train::StepGraph::Outputs step(const Tensor& images, const Tensor& labels) {
    Tensor logits = model->forward(images);
    Tensor loss = ops::softmax_cross_entropy(logits, labels);
    backward(loss);
    optimizer->step();
    optimizer->zero_grad();
    return {loss, logits};
  }
  train::StepGraph::Step step_function() {
    return [this](const Tensor& images, const Tensor& labels) { return step(images, labels); };
  }
};

// Every parameter and buffer (weights, BatchNorm moving statistics) of two models agrees.
void expect_same_model(ResNetV2& a, ResNetV2& b) {
  std::vector<ParamRef> pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(test::all_close(*pa[i].tensor, *pb[i].tensor, kSame, pa[i].name));
}

// Eager steps on one model, StepGraph steps on an identical one, batch by batch, with the
// learning rate of `rates` (when given) set before each step; compares every step's loss and
// logits and the final models. Returns the StepGraph for further checks.
std::unique_ptr<train::StepGraph> compare_eager_and_graph(const std::string& kind, const std::vector<Batch>& batches,
                                                          const std::vector<double>& rates = {}) {
  TrainRun eager(kind), graph(kind);
  auto steps = std::make_unique<train::StepGraph>("on", Device::cuda(), kBatch, *graph.optimizer, /*quiet=*/true);
  for (size_t s = 0; s < batches.size(); ++s) {
    if (!rates.empty()) {
      eager.optimizer->set_learning_rate(rates[s]);
      graph.optimizer->set_learning_rate(rates[s]);
    }
    train::StepGraph::Outputs a = eager.step(batches[s].images, batches[s].labels);
    train::StepGraph::Outputs b = steps->run(batches[s].images, batches[s].labels, graph.step_function());
    EXPECT_TRUE(test::all_close(b.loss, a.loss, kSame, "loss of step " + std::to_string(s + 1)));
    EXPECT_TRUE(test::all_close(b.logits, a.logits, kSame, "logits of step " + std::to_string(s + 1)));
  }
  expect_same_model(*graph.model, *eager.model);
  EXPECT_EQ(graph.optimizer->step_count(), eager.optimizer->step_count());
  // The optimizers' states (Adam's moments, SGD's velocity) too.
  std::vector<NamedTensor> sa = eager.optimizer->state(), sb = graph.optimizer->state();
  EXPECT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < std::min(sa.size(), sb.size()); ++i)
    EXPECT_TRUE(test::all_close(sb[i].tensor, sa[i].tensor, kSame, sa[i].name));
  return steps;
}

TEST(CudaGraphTrain, ReplayedStepsEqualEagerStepsAdam) {
  ALZ_REQUIRE_GPU();
  strict_math();
  auto steps = compare_eager_and_graph("adam", make_batches({kBatch, kBatch, kBatch, kBatch, kBatch, kBatch}, 21));
  EXPECT_TRUE(steps->replaying()) << steps->status();
  EXPECT_EQ(steps->replays(), 4);  // 2 warm-up steps, then the capture's step and 3 more replays
  EXPECT_EQ(steps->eager_steps(), train::StepGraph::kWarmupSteps);
}

TEST(CudaGraphTrain, ReplayedStepsEqualEagerStepsSgd) {
  ALZ_REQUIRE_GPU();
  strict_math();
  auto steps = compare_eager_and_graph("sgd", make_batches({kBatch, kBatch, kBatch, kBatch, kBatch}, 22));
  EXPECT_TRUE(steps->replaying()) << steps->status();
  EXPECT_EQ(steps->replays(), 3);
}

// The rate is set in device memory outside the graph; each replay reads it. A rate of 0 on the
// last replay leaves every weight as it was (plain SGD: no velocity carries the step on).
TEST(CudaGraphTrain, AChangedLearningRateIsTakenByTheNextReplay) {
  ALZ_REQUIRE_GPU();
  strict_math();
  const std::vector<Batch> batches = make_batches({kBatch, kBatch, kBatch, kBatch, kBatch, kBatch}, 23);
  compare_eager_and_graph("adam", batches, {1e-3, 1e-3, 1e-3, 5e-3, 2e-4, 0.0});

  TrainRun run("sgd");
  run.optimizer = std::make_unique<SGD>(run.model->trainable_parameters(), SgdOptions{.learning_rate = 0.05});
  train::StepGraph steps("on", Device::cuda(), kBatch, *run.optimizer, /*quiet=*/true);
  for (size_t s = 0; s + 1 < batches.size(); ++s) steps.run(batches[s].images, batches[s].labels, run.step_function());
  ASSERT_TRUE(steps.replaying()) << steps.status();
  std::vector<Tensor> before;
  for (const ParamRef& p : run.model->trainable_parameters()) before.push_back(p.tensor->clone());
  run.optimizer->set_learning_rate(0.0);
  steps.run(batches.back().images, batches.back().labels, run.step_function());
  std::vector<ParamRef> after = run.model->trainable_parameters();
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(*after[i].tensor, before[i])) << after[i].name;
}

// Full, full, full (captured), full, partial (eager), full (replayed again), partial, full.
TEST(CudaGraphTrain, APartialBatchRunsEagerlyAndTheNextFullBatchReplays) {
  ALZ_REQUIRE_GPU();
  strict_math();
  const std::vector<int64_t> sizes = {kBatch, kBatch, kBatch, kBatch, 3, kBatch, 1, kBatch};
  auto steps = compare_eager_and_graph("adam", make_batches(sizes, 24));
  EXPECT_TRUE(steps->replaying());
  EXPECT_EQ(steps->eager_steps(), train::StepGraph::kWarmupSteps + 2);  // the two partial batches
  EXPECT_EQ(steps->replays(), 4);
}

// A capture whose step synchronises with the device fails; the steps go on eagerly and equal
// the eager run.
TEST(CudaGraphTrain, AFailedCaptureFallsBackToEagerSteps) {
  ALZ_REQUIRE_GPU();
  strict_math();
  const std::vector<Batch> batches = make_batches({kBatch, kBatch, kBatch, kBatch, kBatch}, 25);
  TrainRun eager("sgd"), graph("sgd");
  train::StepGraph steps("on", Device::cuda(), kBatch, *graph.optimizer, /*quiet=*/true);
  auto syncing_step = [&](const Tensor& images, const Tensor& labels) {
    train::StepGraph::Outputs out = graph.step(images, labels);
    (void)out.loss.at({});  // a read-back: not allowed inside a capture
    return out;
  };
  for (const Batch& b : batches) {
    train::StepGraph::Outputs a = eager.step(b.images, b.labels);
    train::StepGraph::Outputs g = steps.run(b.images, b.labels, syncing_step);
    EXPECT_TRUE(test::all_close(g.loss, a.loss, kSame, "loss"));
  }
  EXPECT_FALSE(steps.replaying());
  EXPECT_EQ(steps.eager_steps(), static_cast<int64_t>(batches.size()));
  EXPECT_EQ(steps.status().rfind("off: the capture failed", 0), 0u) << steps.status();
  expect_same_model(*graph.model, *eager.model);
  EXPECT_EQ(graph.optimizer->step_count(), eager.optimizer->step_count());
}

// Data-parallel runs (require_every_rank): a capture that failed on any rank stops the run on
// every rank with an error, whether this rank's capture worked or not; a successful one on
// every rank replays as usual.
TEST(CudaGraphTrain, ACaptureThatFailedOnAnyRankStopsADataParallelRun) {
  ALZ_REQUIRE_GPU();
  strict_math();
  const std::vector<Batch> batches = make_batches({kBatch, kBatch, kBatch, kBatch}, 26);
  for (bool other_rank_captured : {false, true}) {
    SCOPED_TRACE(other_rank_captured ? "every rank captured" : "another rank's capture failed");
    TrainRun graph("sgd");
    train::StepGraph steps("on", Device::cuda(), kBatch, *graph.optimizer, /*quiet=*/true);
    int agreements = 0;
    steps.require_every_rank([&](bool captured) {
      ++agreements;
      EXPECT_TRUE(captured) << "this rank's capture works";
      return captured && other_rank_captured;
    });
    auto step = [&](const Tensor& images, const Tensor& labels) { return graph.step(images, labels); };
    steps.run(batches[0].images, batches[0].labels, step);  // eager warm-up
    steps.run(batches[1].images, batches[1].labels, step);
    if (other_rank_captured) {
      steps.run(batches[2].images, batches[2].labels, step);
      steps.run(batches[3].images, batches[3].labels, step);
      EXPECT_TRUE(steps.replaying());
      EXPECT_EQ(steps.replays(), 2);
    } else {
      try {
        steps.run(batches[2].images, batches[2].labels, step);
        ADD_FAILURE() << "the step went on after another rank's capture failed";
      } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("--cuda-graph off"), std::string::npos) << error.what();
      }
      EXPECT_FALSE(steps.replaying());
    }
    EXPECT_EQ(agreements, 1) << "asked once, right after the capture";
  }
}

// ---------------------------------------------------------------- the facility itself

TEST(CudaGraph, ReplayRecomputesFromTheStaticInput) {
  ALZ_REQUIRE_GPU();
  Generator gen(31);
  Tensor x = Tensor::uniform({1000}, gen, -1.0, 1.0, DType::F32, Device::cuda());
  Tensor y;
  cuda::CudaGraph graph(0);
  graph.capture([&] { y = ops::scale(ops::add(x, x), 0.25); });  // y = x / 2, through a temporary
  EXPECT_TRUE(graph.captured());
  EXPECT_GE(graph.num_nodes(), 2u);
  for (int r = 0; r < 3; ++r) {
    Tensor next = Tensor::uniform({1000}, gen, -1.0, 1.0, DType::F32, Device::cuda());
    x.copy_from(next);
    graph.replay();
    EXPECT_TRUE(test::all_close(y, ops::scale(next, 0.5), Tolerance{0, 0}, "replay " + std::to_string(r)));
  }
  EXPECT_EQ(graph.replays(), 3u);
}

TEST(CudaGraph, BlocksOfAGraphPoolAreNotHandedToEagerAllocations) {
  ALZ_REQUIRE_GPU();
  Generator gen(32);
  const std::vector<int64_t> sizes = {100, 1000, 70000, 300000, 1 << 20};  // small and large requests
  std::vector<Tensor> inputs;
  for (int64_t n : sizes) inputs.push_back(Tensor::uniform({n}, gen, -1.0, 1.0, DType::F32, Device::cuda()));
  const size_t pool_before = cuda::allocator_stats(0).graph_pool_bytes;
  std::set<const void*> graph_blocks;
  std::vector<Tensor> outputs;
  {
    cuda::CudaGraph graph(0);
    graph.capture([&] {
      for (const Tensor& x : inputs) {
        Tensor temporary = ops::add(x, x);  // freed inside the capture: back to the graph's pool
        graph_blocks.insert(temporary.raw_data());
        outputs.push_back(ops::scale(temporary, 0.5));
        graph_blocks.insert(outputs.back().raw_data());
      }
    });
    EXPECT_GT(graph.pool_bytes(), 0u);
    EXPECT_EQ(cuda::allocator_stats(0).graph_pool_bytes, pool_before + graph.pool_bytes());
    // Idle between replays: the pool's blocks no tensor holds (the temporaries), not the outputs.
    size_t output_bytes = 0;
    for (const Tensor& y : outputs) output_bytes += cuda::allocator_size_class(size_t(y.numel()) * sizeof(float));
    EXPECT_EQ(graph.pool_idle_bytes(), graph.pool_bytes() - output_bytes);
    graph.replay();
    // Eager allocations of every size the graph used, many times over: none may land in
    // the graph's pool, neither its free temporaries nor its live outputs.
    std::vector<Tensor> eager;
    for (int round = 0; round < 4; ++round)
      for (int64_t n : sizes) {
        eager.push_back(Tensor::empty({n}, DType::F32, Device::cuda()));
        EXPECT_EQ(graph_blocks.count(eager.back().raw_data()), 0u) << "an eager tensor of " << n << " floats";
      }
    for (size_t i = 0; i < inputs.size(); ++i)
      EXPECT_TRUE(test::all_close(outputs[i], inputs[i], Tolerance{0, 0}, "output " + std::to_string(i)));
    outputs.clear();  // freed after the capture: back to the graph's pool, still not eager memory
    EXPECT_EQ(graph.pool_idle_bytes(), graph.pool_bytes());
    for (int64_t n : sizes) {
      Tensor t = Tensor::empty({n}, DType::F32, Device::cuda());
      EXPECT_EQ(graph_blocks.count(t.raw_data()), 0u);
    }
  }
  // Destroyed: the pool's blocks are ordinary cached blocks again.
  EXPECT_EQ(cuda::allocator_stats(0).graph_pool_bytes, pool_before);
  const uint64_t mallocs = cuda::allocator_stats(0).cuda_malloc_calls;
  std::vector<Tensor> again;
  for (int64_t n : sizes) again.push_back(Tensor::empty({n}, DType::F32, Device::cuda()));
  EXPECT_EQ(cuda::allocator_stats(0).cuda_malloc_calls, mallocs) << "the freed pool should serve these";
}

// record_allocations, then capture: the capture's tensors go where the recorded eager run's
// plan puts them (tensor/block_allocator.h), the replay computes what the eager run did, and the
// pool is no larger than best fit's.
TEST(CudaGraph, APlannedCaptureReplaysTheSameValuesInNoMoreMemory) {
  ALZ_REQUIRE_GPU();
  Generator gen(41);
  Tensor x = Tensor::uniform({1 << 19}, gen, -1.0, 1.0, DType::F32, Device::cuda());  // 2 MiB
  auto f = [&](Tensor& y) {
    Tensor a = ops::add(x, x);
    Tensor b = ops::scale(a, 0.5);
    Tensor c = ops::add(b, x);  // a, b and c live together until the end
    y = ops::scale(c, 0.25);
  };
  Tensor warm;
  f(warm);
  size_t best_fit_pool = 0;
  {
    cuda::CudaGraph unplanned(0);
    Tensor y;
    unplanned.capture([&] { f(y); });
    EXPECT_FALSE(unplanned.followed_memory_plan());
    best_fit_pool = unplanned.pool_bytes();
  }
  cuda::CudaGraph planned(0);
  Tensor recorded;
  planned.record_allocations([&] { f(recorded); });
  Tensor y;
  planned.capture([&] { f(y); });
  EXPECT_TRUE(planned.followed_memory_plan());
  EXPECT_LE(planned.pool_bytes(), best_fit_pool);
  EXPECT_GE(planned.pool_bytes(), size_t{8} << 20) << "a, b, c and y: 2 MiB each, alive together";
  planned.replay();
  EXPECT_TRUE(test::all_close(y, recorded, Tolerance{0, 0}, "planned replay against the recorded eager run"));
  EXPECT_TRUE(test::all_close(y, ops::scale(ops::add(x, x), 0.25), Tolerance{0, 0}, "against the formula"));
}

TEST(CudaGraph, AFailedCaptureThrowsAndLeavesTheDeviceUsable) {
  ALZ_REQUIRE_GPU();
  Generator gen(33);
  Tensor x = Tensor::uniform({257}, gen, -1.0, 1.0, DType::F32, Device::cuda());
  const size_t pool_before = cuda::allocator_stats(0).graph_pool_bytes;
  cuda::CudaGraph graph(0);
  // A synchronisation inside the capture: cudaErrorStreamCaptureUnsupported, capture invalidated.
  try {
    graph.capture([&] {
      Tensor y = ops::scale(x, 2.0);
      cuda::synchronize(0);
    });
    FAIL() << "a capture that synchronises must fail";
  } catch (const Error& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("CUDA graph capture failed"), std::string::npos) << text;
    EXPECT_NE(text.find("cudaStreamEndCapture"), std::string::npos) << text;
  }
  EXPECT_FALSE(graph.captured());
  EXPECT_FALSE(cuda::capturing());
  EXPECT_EQ(cuda::allocator_stats(0).graph_pool_bytes, pool_before);
  // An exception thrown by fn: named in the error.
  try {
    graph.capture([&] { ALZ_FAIL("the step refused"); });
    FAIL() << "an exception inside the capture must fail it";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("the step refused"), std::string::npos) << error.what();
  }
  // Eager work goes on, and the same graph object can still capture.
  EXPECT_TRUE(test::all_close(ops::scale(x, 2.0), ops::add(x, x), Tolerance{0, 0}, "eager after the failures"));
  Tensor y;
  graph.capture([&] { y = ops::scale(x, 3.0); });
  graph.replay();
  EXPECT_TRUE(test::all_close(y, ops::add(ops::add(x, x), x), Tolerance{1e-7, 1e-6}, "captured after the failures"));
  EXPECT_THROW(cuda::keep_alive_until_graph_destroyed(std::make_shared<int>(1)), Error);  // no capture active
}

// ---------------------------------------------------------------- alz train end to end

std::string phantoms() {
  static std::string manifest = [] {
    // 39 training images: 4 batches of 8 and one of 7 per epoch
    return test::write_tiny_phantoms(test::fresh_temp_dir("cuda_graph_phantoms"), 11);
  }();
  return manifest;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// The same run with the graph and without: the same losses per epoch, and run_info.json says
// how the step ran. (The trainer picks cuDNN's heuristic algorithms, which may sum in another
// order than the deterministic ones: kTrain {1e-5, 1e-4}, f32 over 15 steps.)
TEST(CudaGraphTrain, AlzTrainWithAndWithoutTheGraphTrainsTheSameModel) {
  ALZ_REQUIRE_GPU();
  constexpr Tolerance kTrain{1e-5, 1e-4};
  const std::string root = test::fresh_temp_dir("cuda_graph_train");
  auto config = [&](const std::string& mode) {
    train::TrainConfig c;
    c.data = phantoms();
    c.model = "resnetv2-tiny";
    c.device = "cuda";
    c.precision = "fp32";
    c.epochs = 3;
    c.batch_size = 8;
    c.input_height = c.input_width = 32;
    c.seed = 5;
    c.workers = 2;
    c.cuda_graph = mode;
    c.run_dir = root + "/" + mode;
    c.quiet = true;
    return c;
  };
  ASSERT_EQ(train::run_training(config("on")), 0);
  ASSERT_EQ(train::run_training(config("off")), 0);
  const std::string on_status = read_json(root + "/on/run_info.json").at("cuda_graph");
  EXPECT_EQ(on_status.rfind("on: captured at step 3", 0), 0u) << on_status;
  EXPECT_EQ(read_json(root + "/off/run_info.json").at("cuda_graph"), "off");
  auto on = train::read_jsonl(root + "/on/metrics.jsonl"), off = train::read_jsonl(root + "/off/metrics.jsonl");
  ASSERT_EQ(on.size(), 3u);
  ASSERT_EQ(off.size(), 3u);
  for (size_t e = 0; e < on.size(); ++e)
    EXPECT_TRUE(test::all_close(std::vector<double>{on[e].at("train_loss").get<double>()},
                                std::vector<double>{off[e].at("train_loss").get<double>()}, kTrain,
                                "train loss of epoch " + std::to_string(e + 1)));
}

}  // namespace
}  // namespace alz
