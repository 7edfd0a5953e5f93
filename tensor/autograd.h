// Reverse-mode autograd: placeholder state attached to a Tensor (filled in by the tape).
#pragma once
#include <memory>

#include "tensor/tensor.h"

namespace alz {

struct Node;

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;                     // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;   // the tape node that produced this tensor (non-leaf)
};

}  // namespace alz
