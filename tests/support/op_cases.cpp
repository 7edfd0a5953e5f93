// The op table (tests/support/op_cases.h): every op on the tape, once per configuration.
// Test shapes are small and odd (finite differences evaluate the op twice per input element);
// bench shapes are layers of ResNet152V2 at a small batch, sized so a CPU times each in
// milliseconds. Checked by: ctest --test-dir build -R OpTable   (CPU; GPU: -L gpu -R OpTable)
// Timed by: build/bench/bench_ops
#include "support/op_cases.h"

#include "core/error.h"
#include "tensor/ops.h"

namespace alz::test {

namespace {

using In = const std::vector<Tensor>&;

// ---------------------------------------------------------------- tolerances, one reason each
const ReasonedTolerance kFiniteDifference{
    {1e-7, 1e-5}, "f64 central differences, eps 1e-6: O(eps^2) truncation plus ~1e-16 |L| / eps rounding"};

const ReasonedTolerance kCpuF32Elementwise{{1e-6, 1e-6}, "one f32 rounding of each input and result (2^-24 relative)"};
const ReasonedTolerance kCpuF32Sums{{1e-5, 1e-5}, "f32 inputs, sums of up to ~2e3 O(1) terms"};
const ReasonedTolerance kCpuF32Gemm{{1e-5, 1e-5}, "f32 GEMM (OpenBLAS): sums of up to ~150 products of O(1) values"};
const ReasonedTolerance kCpuF32BatchNorm{{5e-5, 5e-5}, "the fast f32 BatchNorm kernels against the f64 reference"};

const ReasonedTolerance kCudaF32Exact{{1e-6, 1e-6}, "the same f32 operation per element on both devices"};
const ReasonedTolerance kCudaF32Sums{{1e-4, 1e-5}, "f32 partial sums in another order than the CPU's"};
const ReasonedTolerance kCudaF32WholeSum{{1e-3, 1e-4}, "a sum of ~1.6e3 O(1) terms in f32, in another order"};
const ReasonedTolerance kCudaF32Gemm{{1e-4, 1e-4}, "strict f32 cuBLAS/cuDNN (TF32 off), sums in another order"};
const ReasonedTolerance kCudaF32BatchNorm{{2e-4, 2e-4}, "f32 batch statistics and gradient sums in another order"};
const ReasonedTolerance kCudaF32Loss{{1e-5, 1e-5}, "f32 exp/log and sums over the batch in another order"};

const ReasonedTolerance kBf16Rounding{{1e-5, 8e-3}, "one bf16 rounding of each result (2^-9 relative), with slack"};
const ReasonedTolerance kBf16Exact{{0.0, 0.0}, "a copy or a selection of bf16 values: exact"};
const ReasonedTolerance kBf16Sums{{1e-4, 8e-3}, "f32 sums rounded once to bf16"};
const ReasonedTolerance kBf16Accumulated{{1e-2, 1e-2},
                                         "gradients of several uses summed in bf16: a rounding per addition"};
const ReasonedTolerance kBf16Gemm{{1e-3, 8e-3}, "bf16 GEMM: f32 accumulation, the result rounded once"};
const ReasonedTolerance kBf16Conv{
    {5e-2, 2e-2}, "bf16 cuDNN: output rounded to 8 bits with values up to ~10, f32 accumulation in another order"};
const ReasonedTolerance kBf16BatchNorm{{2e-3, 8e-3},
                                       "y and dx rounded to bf16; dgamma and dbeta f32 sums over ~1e3 rows"};

// ---------------------------------------------------------------- constants drawn inside a case
// On the CPU a BatchNorm's parameters have the dtype of x; on the GPU they are f32.
DType parameter_dtype(const Tensor& x) {
  return x.device().is_cpu() && x.dtype() != DType::BF16 ? x.dtype() : DType::F32;
}

// A constant of the op (class weights, moving statistics), drawn on the device itself from a
// seeded generator: the same numbers on every call, device and dtype (core/generator.h), and
// no copy from the host inside a timed loop.
Tensor constant(const Shape& shape, uint64_t seed, double low, double high, DType dtype, Device device) {
  Generator gen(seed);
  return Tensor::uniform(shape, gen, low, high, dtype, device);
}

// logits (N, K) and labels (N); class weights (K) in [0.5, 2).
OpFunction cross_entropy(bool weighted, double label_smoothing) {
  return [=](In in) {
    Tensor weights = weighted ? constant({in[0].dim(1)}, 51, 0.5, 2.0, in[0].dtype(), in[0].device()) : Tensor();
    return ops::softmax_cross_entropy(in[0], in[1], weights, label_smoothing);
  };
}

// Moving statistics (C) for x (..., C): mean in [-0.5, 0.5), variance in [0.5, 2). Fresh on
// every call, so a training-mode update never carries over into the next evaluation.
OpFunction batch_norm(bool training, bool fused, bool relu) {
  return [=](In in) {
    const int64_t channels = in[0].dim(-1);
    Tensor moving_mean = constant({channels}, 61, -0.5, 0.5, parameter_dtype(in[0]), in[0].device());
    Tensor moving_variance = constant({channels}, 62, 0.5, 2.0, parameter_dtype(in[0]), in[0].device());
    ops::BatchNormOptions options;
    options.training = training;
    options.fused = fused;
    options.relu = relu;
    return ops::batch_norm(in[0], in[1], in[2], moving_mean, moving_variance, options);
  };
}

// ---------------------------------------------------------------- FLOP counts
// A GEMM-like op: 2 * (output elements) * (inner dimension).
double conv_flops(In in, const Tensor& y) {
  return 2.0 * static_cast<double>(y.numel()) * static_cast<double>(in[1].dim(1) * in[1].dim(2) * in[1].dim(3));
}
double dense_flops(In in, const Tensor& y) { return 2.0 * static_cast<double>(y.numel() * in[0].dim(1)); }

// ---------------------------------------------------------------- builders of families of cases
InputSpec data(Shape shape, Shape bench_shape, double low = -1.0, double high = 1.0) {
  return InputSpec{std::move(shape), std::move(bench_shape), low, high, false, false};
}

// x (N, H, W, C), w (K, R, S, C), bias (K) when `bias`.
OpCase conv_case(const std::string& name, Shape x, Shape w, ops::Conv2dOptions options, bool bias, Shape bench_x,
                 Shape bench_w) {
  OpCase c;
  c.name = "conv2d_" + name + (bias ? "_bias" : "_nobias");
  c.inputs = {data(x, bench_x), data(w, bench_w)};
  if (bias) c.inputs.push_back(data({w[0]}, {bench_w[0]}));
  c.run = [options, bias](In in) { return ops::conv2d(in[0], in[1], bias ? in[2] : Tensor(), options); };
  c.finite_difference = kFiniteDifference;
  c.cpu_f32 = kCpuF32Gemm;
  c.cuda_f32 = kCudaF32Gemm;
  c.bf16 = kBf16Conv;
  c.forward_flops = conv_flops;
  return c;
}

// conv2d_add: x (N, H, W, C), w (K, R, S, C), bias (K) when `bias`, residual (N, P, Q, K).
OpCase conv_add_case(const std::string& name, Shape x, Shape w, ops::Conv2dOptions options, bool bias, Shape residual,
                     Shape bench_x, Shape bench_w, Shape bench_residual) {
  OpCase c = conv_case(name, x, w, options, bias, bench_x, bench_w);
  c.name = "conv2d_add_" + name + (bias ? "_bias" : "_nobias");
  c.inputs.push_back(data(residual, bench_residual));
  c.run = [options, bias](In in) {
    return ops::conv2d_add(in[0], in[1], bias ? in[2] : Tensor(), in[bias ? 3 : 2], options);
  };
  return c;
}

OpCase batch_norm_case(const std::string& name, bool training, bool fused, bool relu) {
  OpCase c;
  c.name = "batch_norm_" + name + (relu ? "_relu" : "");
  // x: C = 13, 70 rows; gamma of both signs (a negative gamma flips which side the ReLU keeps).
  c.inputs = {data({2, 7, 5, 13}, {2, 56, 56, 64}, -2.0, 3.0),
              InputSpec{{13}, {64}, 0.5, 1.5, /*away_from_zero=*/true, /*parameter=*/true},
              InputSpec{{13}, {64}, -0.5, 0.5, false, /*parameter=*/true}};
  c.run = batch_norm(training, fused, relu);
  c.finite_difference = kFiniteDifference;
  c.cpu_f32 = kCpuF32BatchNorm;
  c.cuda_f32 = kCudaF32BatchNorm;
  if (fused || !training) c.bf16 = kBf16BatchNorm;  // the unfused CUDA reference is f32 only
  return c;
}

OpCase cross_entropy_case(const std::string& name, bool weighted, double label_smoothing) {
  OpCase c;
  c.name = "softmax_cross_entropy_" + name;
  // logits (N, K) and labels (N); the bench batch uses the first 4 of its 1000 classes.
  InputSpec labels{{6}, {256}};
  labels.classes = 4;
  c.inputs = {data({6, 4}, {256, 1000}, -3.0, 3.0), labels};
  c.run = cross_entropy(weighted, label_smoothing);
  c.finite_difference = kFiniteDifference;
  c.cpu_f32 = ReasonedTolerance{{1e-6, 1e-5}, "f32 exp/log of O(1) logits against f64"};
  c.cuda_f32 = kCudaF32Loss;
  return c;  // no bf16: the loss runs in f32
}

// Any other case: the default finite-difference tolerance, the others as given.
OpCase simple_case(const std::string& name, std::vector<InputSpec> inputs, OpFunction run, ReasonedTolerance cpu_f32,
                   ReasonedTolerance cuda_f32, std::optional<ReasonedTolerance> bf16) {
  OpCase c;
  c.name = name;
  c.inputs = std::move(inputs);
  c.run = std::move(run);
  c.finite_difference = kFiniteDifference;
  c.cpu_f32 = cpu_f32;
  c.cuda_f32 = cuda_f32;
  c.bf16 = bf16;
  return c;
}

std::vector<OpCase> build_table() {
  std::vector<OpCase> t;
  const std::nullopt_t no_bf16 = std::nullopt;

  // ---- elementwise: N = 1, C = 7; bench: a 56x56x64 activation at batch 4
  const Shape e = {1, 3, 5, 7}, eb = {4, 56, 56, 64};
  t.push_back(simple_case(
      "add", {data(e, eb), data(e, eb)}, [](In in) { return ops::add(in[0], in[1]); }, kCpuF32Elementwise,
      kCudaF32Exact, kBf16Rounding));
  t.push_back(simple_case(
      "sub", {data(e, eb), data(e, eb)}, [](In in) { return ops::sub(in[0], in[1]); }, kCpuF32Elementwise,
      kCudaF32Exact, kBf16Rounding));
  t.push_back(simple_case(
      "mul", {data(e, eb), data(e, eb)}, [](In in) { return ops::mul(in[0], in[1]); }, kCpuF32Elementwise,
      kCudaF32Exact, kBf16Rounding));
  t.push_back(simple_case(
      "scale", {data(e, eb)}, [](In in) { return ops::scale(in[0], -2.5); }, kCpuF32Elementwise, kCudaF32Exact,
      kBf16Rounding));
  // ReLU: every input at least 0.05 from the kink, so central differences stay valid.
  t.push_back(simple_case(
      "relu", {InputSpec{e, eb, 0.05, 1.0, /*away_from_zero=*/true, false}}, [](In in) { return ops::relu(in[0]); },
      kCpuF32Elementwise, kCudaF32Exact, kBf16Rounding));
  // x (N, H, W, C) + bias (C): the bias gradient sums over N*H*W rows.
  t.push_back(simple_case(
      "add_channel", {data({2, 9, 7, 13}, eb), data({13}, {64})}, [](In in) { return ops::add_channel(in[0], in[1]); },
      kCpuF32Sums, kCudaF32Sums, kBf16Sums));

  // ---- reductions over (2, 9, 7, 13): 126 rows of C = 13; bench: the 7x7x2048 head at batch 8
  const Shape r = {2, 9, 7, 13}, rb = {8, 7, 7, 2048};
  t.push_back(simple_case(
      "sum", {data(r, rb)}, [](In in) { return ops::sum(in[0]); }, kCpuF32Sums, kCudaF32WholeSum, no_bf16));
  t.push_back(simple_case(
      "mean", {data(r, rb)}, [](In in) { return ops::mean(in[0]); }, kCpuF32Sums, kCudaF32Sums, no_bf16));
  t.push_back(simple_case(
      "channel_sum", {data(r, rb)}, [](In in) { return ops::channel_sum(in[0]); }, kCpuF32Sums, kCudaF32Sums, no_bf16));
  t.push_back(simple_case(
      "channel_mean", {data(r, rb)}, [](In in) { return ops::channel_mean(in[0]); }, kCpuF32Sums, kCudaF32Sums,
      no_bf16));
  t.push_back(simple_case(
      "global_avg_pool", {data(r, rb)}, [](In in) { return ops::global_avg_pool(in[0]); }, kCpuF32Sums, kCudaF32Sums,
      kBf16Sums));

  // ---- dense: (5, 33) x (33, 4); bench: Keras's ImageNet head, batch 64, 2048 -> 1000
  const Shape da = {5, 33}, dw = {33, 4}, dab = {64, 2048}, dwb = {2048, 1000};
  OpCase matmul = simple_case(
      "matmul", {data(da, dab), data(dw, dwb)}, [](In in) { return ops::matmul(in[0], in[1]); }, kCpuF32Gemm,
      kCudaF32Gemm, kBf16Gemm);
  matmul.forward_flops = dense_flops;
  t.push_back(matmul);
  OpCase linear = simple_case(
      "linear_bias", {data(da, dab), data(dw, dwb), data({4}, {1000})},
      [](In in) { return ops::linear(in[0], in[1], in[2]); }, kCpuF32Gemm, kCudaF32Gemm, kBf16Gemm);
  linear.forward_flops = dense_flops;
  t.push_back(linear);
  OpCase linear_nobias = simple_case(
      "linear_nobias", {data(da, dab), data(dw, dwb)}, [](In in) { return ops::linear(in[0], in[1], Tensor()); },
      kCpuF32Gemm, kCudaF32Gemm, kBf16Gemm);
  linear_nobias.forward_flops = dense_flops;
  t.push_back(linear_nobias);

  // ---- convolution, with and without bias; bench shapes are ResNet152V2 layers at batch 2
  for (bool bias : {true, false}) {
    t.push_back(
        conv_case("3x3_same", {1, 5, 5, 3}, {4, 3, 3, 3}, {1, 1, {1, 1, 1, 1}}, bias, {2, 56, 56, 64}, {64, 3, 3, 64}));
    t.push_back(conv_case("3x3_s2_odd_asym_pad", {2, 7, 7, 5}, {3, 3, 3, 5}, {2, 2, {0, 1, 0, 1}}, bias,
                          {2, 57, 57, 64}, {64, 3, 3, 64}));
    t.push_back(conv_case("3x3_s2_pad1", {2, 9, 9, 5}, {6, 3, 3, 5}, {2, 2, {1, 1, 1, 1}}, bias, {2, 56, 56, 64},
                          {64, 3, 3, 64}));
    t.push_back(conv_case("1x1", {2, 4, 3, 6}, {7, 1, 1, 6}, {1, 1, {}}, bias, {2, 56, 56, 64}, {256, 1, 1, 64}));
    t.push_back(conv_case("1x1_s2", {1, 5, 5, 2}, {3, 1, 1, 2}, {2, 2, {}}, bias, {2, 56, 56, 256}, {128, 1, 1, 256}));
    t.push_back(
        conv_case("1x1_spatial", {1, 1, 1, 3}, {2, 1, 1, 3}, {1, 1, {}}, bias, {64, 1, 1, 2048}, {512, 1, 1, 2048}));
    t.push_back(conv_case("7x7_s2_stem", {1, 15, 15, 3}, {8, 7, 7, 3}, {2, 2, {3, 3, 3, 3}}, bias, {2, 224, 224, 3},
                          {64, 7, 7, 3}));
    // a residual block's last convolution and its shortcut (C = 8: the bf16 vector paths too)
    t.push_back(conv_add_case("1x1", {2, 4, 3, 6}, {8, 1, 1, 6}, {1, 1, {}}, bias, {2, 4, 3, 8}, {2, 56, 56, 64},
                              {256, 1, 1, 64}, {2, 56, 56, 256}));
  }

  // ---- max pooling (Keras: zero padding, value 0, before the pool) and zero padding
  const Shape p = {2, 9, 7, 5};
  t.push_back(simple_case(
      "max_pool2d_3x3_s2_keras_pad", {data(p, {2, 112, 112, 64})},
      [](In in) {
        return ops::max_pool2d(in[0], {3, 3, 2, 2, {1, 1, 1, 1}});
      },
      kCpuF32Elementwise, kCudaF32Exact, kBf16Accumulated));  // overlapping windows: dx sums up to 4 terms
  t.push_back(simple_case(
      "max_pool2d_1x1_s2", {data(p, {2, 56, 56, 256})},
      [](In in) {
        return ops::max_pool2d(in[0], {1, 1, 2, 2, {}});
      },
      kCpuF32Elementwise, kCudaF32Exact, kBf16Exact));
  const Shape z = {2, 7, 5, 3}, zb = {2, 112, 112, 64};
  t.push_back(simple_case(
      "zero_pad2d_3333", {data(z, zb)},
      [](In in) {
        return ops::zero_pad2d(in[0], {3, 3, 3, 3});
      },
      kCpuF32Elementwise, kCudaF32Exact, kBf16Exact));
  t.push_back(simple_case(
      "zero_pad2d_0120", {data(z, zb)},
      [](In in) {
        return ops::zero_pad2d(in[0], {0, 1, 2, 0});
      },
      kCpuF32Elementwise, kCudaF32Exact, kBf16Exact));
  t.push_back(simple_case(
      "zero_pad2d_1203", {data(z, zb)},
      [](In in) {
        return ops::zero_pad2d(in[0], {1, 2, 0, 3});
      },
      kCpuF32Elementwise, kCudaF32Exact, kBf16Exact));

  // ---- shape: flatten, and a reshape used twice (its gradient arrives from two uses)
  const Shape f = {2, 3, 2, 5}, fb = {8, 7, 7, 2048};
  t.push_back(simple_case(
      "flatten", {data(f, fb)}, [](In in) { return ops::flatten(in[0]); }, kCpuF32Elementwise, kCudaF32Exact,
      kBf16Exact));
  t.push_back(simple_case(
      "reshape_used_twice", {data(f, fb)},
      [](In in) {
        const Shape s = {in[0].dim(0) * in[0].dim(1), in[0].dim(2) * in[0].dim(3)};
        return ops::mul(ops::reshape(in[0], s), ops::reshape(in[0], s));
      },
      kCpuF32Elementwise, kCudaF32Exact, kBf16Accumulated));

  // ---- batch normalisation: training (fused kernels or the unfused reference) and inference
  for (bool relu : {true, false}) {
    t.push_back(batch_norm_case("training_fused", true, true, relu));
    t.push_back(batch_norm_case("training_reference", true, false, relu));
    t.push_back(batch_norm_case("inference", false, true, relu));
  }

  // ---- loss
  t.push_back(cross_entropy_case("plain", false, 0.0));
  t.push_back(cross_entropy_case("weighted", true, 0.0));
  t.push_back(cross_entropy_case("label_smoothing", false, 0.1));

  for (size_t i = 0; i < t.size(); ++i)
    for (size_t j = 0; j < i; ++j) ALZ_CHECK(t[i].name != t[j].name, "op table: the name " << t[i].name << " twice");
  return t;
}

// FNV-1a of the name: a seed that stays the same when cases are added or reordered.
uint64_t name_seed(const std::string& name) {
  uint64_t hash = 1469598103934665603ull;
  for (char ch : name) hash = (hash ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return hash;
}

}  // namespace

bool OpCase::supports(Device device, DType dtype) const {
  if (dtype == DType::BF16) return bf16.has_value();
  return dtype == DType::F32 || (device.is_cpu() && dtype == DType::F64);
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> table = build_table();
  return table;
}

std::vector<Tensor> make_inputs(const OpCase& c, OpSize size, DType dtype, Device device) {
  std::vector<Tensor> inputs;
  const uint64_t seed = name_seed(c.name) + (size == OpSize::Bench ? 1 : 0);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const InputSpec& spec = c.inputs[i];
    const Shape& shape = size == OpSize::Test ? spec.shape : spec.bench_shape;
    if (spec.classes > 0) {
      std::vector<int32_t> labels(static_cast<size_t>(shape_numel(shape)));
      for (size_t k = 0; k < labels.size(); ++k) labels[k] = static_cast<int32_t>((k * 7 + 3) % spec.classes);
      inputs.push_back(Tensor::from_vector(labels, shape, device));
      continue;
    }
    Generator gen(seed + 1000003ull * i);
    Tensor values = Tensor::uniform(shape, gen, spec.low, spec.high, DType::F64);
    if (spec.away_from_zero) {
      double* v = values.data<double>();
      for (int64_t k = 1; k < values.numel(); k += 2) v[k] = -v[k];
    }
    const DType target = spec.parameter && (device.is_cuda() || dtype == DType::BF16) ? DType::F32 : dtype;
    inputs.push_back(values.to(target).to(device));
  }
  return inputs;
}

std::string device_dtype_name(Device device, DType dtype) {
  return std::string(device.is_cpu() ? "cpu_" : "cuda_") + dtype_name(dtype);
}

}  // namespace alz::test
