// The parts of dist/communicator.h common to every build: the launcher test, the world of one.
#include "dist/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace alz::dist {

std::string Communicator::describe() const {
  if (size_ == 1) return "single process";
  std::ostringstream out;
  out << "rank " << rank_ << " of " << size_ << " (local " << local_rank_ << ")";
  return out.str();
}

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

void SingleProcess::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(code);
}

}  // namespace alz::dist
