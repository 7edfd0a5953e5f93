// The tiny phantom set of the training tests (support/tiny_phantoms.h).
#include "support/tiny_phantoms.h"

#include "data/phantom.h"

namespace alz::test {

std::string write_tiny_phantoms(const std::string& dir, uint64_t seed) {
  data::PhantomSpec spec;
  spec.out_dir = dir;
  spec.counts = {12, 8, 20, 12};
  spec.height = 48;
  spec.width = 40;
  spec.seed = seed;
  spec.val_fraction = 0.25;
  data::write_phantom_dataset(spec);
  return dir + "/manifest.csv";
}

}  // namespace alz::test
