// The processes of a data-parallel run and the collective operations between them, on host
// memory. A run launched by `mpirun -np N alz train ...` (or Slurm's `srun`) has N ranks, one
// process each; a run started any other way is one rank of a world of one, and no MPI call is
// ever made (the single-process run is exactly as without this layer).
//
//   dist::Communicator& world = dist::world();   // MPI_Init on the first call under a launcher
//   world.all_reduce_sum(values, count);         // every rank ends with the sum over ranks
//   if (world.rank() == 0) write_files();         // rank 0 alone writes and prints
//
// Rank and world size come from MPI_Init (which reads the launcher's environment:
// OMPI_COMM_WORLD_* under OpenMPI's mpirun, PMI/PMIx under srun); the local rank (which GPU a
// rank takes) from the ranks that share a node (MPI_COMM_TYPE_SHARED). The MPI implementation
// is dist/mpi/communicator_mpi.cpp; without MPI at build time, dist/no_mpi/ gives a world of one.
// Every collective must be called by every rank in the same order (as MPI requires).
//
// Tested by tests/dist/ under mpirun:
//   cmake --build build -j2 --target test_dist alz_cli && ctest --test-dir build -R Dist
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace alz::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes of this node
  bool is_root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  // In place: values[i] = sum over ranks of values[i], the same on every rank.
  virtual void all_reduce_sum(float* values, int64_t count) = 0;
  virtual void all_reduce_sum(double* values, int64_t count) = 0;
  virtual void all_reduce_sum(int64_t* values, int64_t count) = 0;
  // True on every rank when `flag` is true on any rank.
  virtual bool any(bool flag) = 0;
  // Copies rank `root`'s bytes into every rank's buffer.
  virtual void broadcast(void* bytes, int64_t count, int root) = 0;
  // Every rank's `mine` concatenated in rank order, on every rank.
  virtual std::vector<double> all_gather(const std::vector<double>& mine) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the run with `code` (MPI_Abort): a rank that failed must not leave the
  // others waiting in a collective forever. Without MPI it is std::exit(code).
  [[noreturn]] virtual void abort(int code) = 0;
  // "rank 1 of 2 (local 1)" or "single process".
  std::string describe() const;

 protected:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

// The run's communicator: a world of one unless the process was started by an MPI launcher
// and the build has MPI. The first call initialises MPI (MPI_Finalize runs at exit).
Communicator& world();

// True when the environment shows an MPI launcher (mpirun, mpiexec, srun with PMI/PMIx).
bool launched_by_mpi();

// A world of one: every collective is the identity.
class SingleProcess final : public Communicator {
 public:
  void all_reduce_sum(float*, int64_t) override {}
  void all_reduce_sum(double*, int64_t) override {}
  void all_reduce_sum(int64_t*, int64_t) override {}
  bool any(bool flag) override { return flag; }
  void broadcast(void*, int64_t, int) override {}
  std::vector<double> all_gather(const std::vector<double>& mine) override { return mine; }
  void barrier() override {}
  [[noreturn]] void abort(int code) override;
};

}  // namespace alz::dist
