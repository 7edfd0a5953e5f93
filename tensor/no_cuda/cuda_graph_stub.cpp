// CUDA graphs in a build without the CUDA toolkit (tensor/cuda_graph.h): nothing can be
// captured, and capturing() is always false, so callers take their eager path.
#include "core/error.h"
#include "tensor/cuda_graph.h"

namespace alz::cuda {

struct CudaGraph::Impl {};

CudaGraph::CudaGraph(int) { ALZ_FAIL("CUDA graphs: this build of alz has no CUDA backend"); }
CudaGraph::~CudaGraph() = default;
void CudaGraph::record_allocations(const std::function<void()>&) {
  ALZ_FAIL("CUDA graphs: this build has no CUDA backend");
}
void CudaGraph::capture(const std::function<void()>&) { ALZ_FAIL("CUDA graphs: this build has no CUDA backend"); }
void CudaGraph::replay() { ALZ_FAIL("CUDA graphs: this build has no CUDA backend"); }
bool CudaGraph::captured() const { return false; }
int CudaGraph::device() const { return 0; }
size_t CudaGraph::num_nodes() const { return 0; }
size_t CudaGraph::pool_bytes() const { return 0; }
size_t CudaGraph::pool_idle_bytes() const { return 0; }
bool CudaGraph::followed_memory_plan() const { return false; }
uint64_t CudaGraph::replays() const { return 0; }

bool capturing() { return false; }
void keep_alive_until_graph_destroyed(std::shared_ptr<void>) {
  ALZ_FAIL("keep_alive_until_graph_destroyed: this build has no CUDA backend");
}

}  // namespace alz::cuda
