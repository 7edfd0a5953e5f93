// dist::world() in a build without MPI: always a world of one (dist/communicator.h).
#include <cstdio>

#include "dist/communicator.h"

namespace alz::dist {

Communicator& world() {
  static SingleProcess single;
  static bool warned = false;
  if (!warned && launched_by_mpi()) {
    warned = true;
    std::fprintf(stderr, "alz: started by an MPI launcher, but this build has no MPI; running as one process\n");
  }
  return single;
}

}  // namespace alz::dist
