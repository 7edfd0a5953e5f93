// The Ctrl-C flag of a training run (train/interrupt.h).
#include "train/interrupt.h"

#include <atomic>
#include <csignal>

namespace alz::train {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted = true; }

}  // namespace

InterruptScope::InterruptScope() {
  g_interrupted = false;
  previous_int_ = std::signal(SIGINT, on_signal);
  previous_term_ = std::signal(SIGTERM, on_signal);
}

InterruptScope::~InterruptScope() {
  std::signal(SIGINT, previous_int_);
  std::signal(SIGTERM, previous_term_);
}

bool interrupt_requested() { return g_interrupted; }

}  // namespace alz::train
