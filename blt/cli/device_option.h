// The --device option of the evaluation-side commands: "cpu", "cuda" (GPU 0), or
// "auto" (GPU 0 when CUDA is available, else the CPU).
#pragma once
#include <string>

#include <torch/torch.h>

namespace blt::cli {

inline torch::Device device_option(const std::string& name) {
  const bool cpu = name == "cpu" || (name == "auto" && !torch::cuda::is_available());
  return cpu ? torch::Device(torch::kCPU) : torch::Device(torch::kCUDA, 0);
}

}  // namespace blt::cli
