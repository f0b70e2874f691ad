#pragma once

#include "core/dtype.h"

#include <cstddef>
#include <string>

namespace shard::cuda {

// Element types the CUDA engine computes in. Activations, weights and the KV cache share
// one type; accumulation is always fp32.
enum class GpuDType { F32, F16, BF16 };

std::size_t element_size(GpuDType type);
std::string to_string(GpuDType type);
GpuDType parse_gpu_dtype(const std::string& text); // "fp32", "fp16", "bf16"; throws Error
DType to_plan_dtype(GpuDType type);
GpuDType gpu_dtype_of(DType type); // throws Error for the types the engine does not compute in

} // namespace shard::cuda
