// Turning the tape back on inside a NoGradGuard (tensor/autograd.h), for code that needs one
// gradient while evaluating: explanations (train/gradcam.h) take the gradient of a logit with
// respect to an activation, and may be called from an evaluation loop that records nothing.
//
//   { NoGradGuard no_grad; ...   { EnableGradGuard with_grad; backward(...); }   ... }
//
// The mode is per thread and restored on exit, as NoGradGuard's. Implemented in
// tensor/autograd.cpp; tested in tests/test_gradcam.cpp (LeavesTheModelAsItWas).
#pragma once

namespace alz {

class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace alz
