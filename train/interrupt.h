// Ctrl-C during training: SIGINT or SIGTERM only sets a flag; the training loop finishes the
// step it is in, saves a resumable state and returns 130 (train/trainer.cpp).
// Tested in tests/test_trainer.cpp (TrainerSignals):
//   cmake --build build -j2 --target test_trainer && ctest --test-dir build -R TrainerSignals
#pragma once

namespace alz::train {

// Installs the SIGINT and SIGTERM handlers for its lifetime (clearing the flag) and restores the
// previous handlers when it ends.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

// True once SIGINT or SIGTERM arrived inside an InterruptScope.
bool interrupt_requested();

}  // namespace alz::train
