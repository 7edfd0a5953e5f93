// The MPI communicator (dist/communicator.h): MPI_COMM_WORLD, initialised on the first call of
// world() when an MPI launcher started the process. Only the main thread calls MPI
// (MPI_THREAD_FUNNELED); the loader's worker threads never do.
// Tested by tests/dist/ under mpirun: ctest --test-dir build -R Dist
#include <mpi.h>

#include <cstdio>
#include <memory>

#include "core/error.h"
#include "dist/communicator.h"

namespace alz::dist {

namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, message, &length);
  ALZ_FAIL("MPI: " << what << " failed: " << std::string(message, static_cast<size_t>(length)));
}

// MPI counts are int: long buffers go in pieces.
constexpr int64_t kMaxPiece = int64_t{1} << 30;

template <typename T> void all_reduce_in_pieces(T* values, int64_t count, MPI_Datatype type) {
  for (int64_t done = 0; done < count; done += kMaxPiece) {
    int piece = static_cast<int>(std::min(kMaxPiece, count - done));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, values + done, piece, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
}

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    MPI_Comm node;  // the ranks of this node: the local rank picks the GPU
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    check_mpi(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
    MPI_Comm_free(&node);
  }
  ~MpiWorld() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  void all_reduce_sum(float* values, int64_t count) override { all_reduce_in_pieces(values, count, MPI_FLOAT); }
  void all_reduce_sum(double* values, int64_t count) override { all_reduce_in_pieces(values, count, MPI_DOUBLE); }
  void all_reduce_sum(int64_t* values, int64_t count) override { all_reduce_in_pieces(values, count, MPI_INT64_T); }

  bool any(bool flag) override {
    int value = flag ? 1 : 0;
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    return value != 0;
  }

  void broadcast(void* bytes, int64_t count, int root) override {
    char* p = static_cast<char*>(bytes);
    for (int64_t done = 0; done < count; done += kMaxPiece) {
      int piece = static_cast<int>(std::min(kMaxPiece, count - done));
      check_mpi(MPI_Bcast(p + done, piece, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
  }

  std::vector<double> all_gather(const std::vector<double>& mine) override {
    int count = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    check_mpi(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<size_t>(r)] = total;
      total += counts[static_cast<size_t>(r)];
    }
    std::vector<double> all(static_cast<size_t>(total));
    check_mpi(MPI_Allgatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE,
                             MPI_COMM_WORLD),
              "MPI_Allgatherv");
    return all;
  }

  void barrier() override { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }
};

}  // namespace

Communicator& world() {
  static std::unique_ptr<Communicator> instance = []() -> std::unique_ptr<Communicator> {
    if (launched_by_mpi()) return std::make_unique<MpiWorld>();
    return std::make_unique<SingleProcess>();
  }();
  return *instance;
}

}  // namespace alz::dist
