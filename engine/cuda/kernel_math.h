#pragma once

// Arithmetic a kernel (engine/cuda/*.cu) and its host loop (engine/cuda/host_model) share
// element for element, written once: host and device functions under nvcc and the device
// emulation, plain inline functions in the host loops.
#include <cstdint>

#if defined(__CUDACC__) || defined(SHARD_DEVICE_EMULATION)
#define SHARD_HOST_DEVICE __host__ __device__
#else
#define SHARD_HOST_DEVICE
#endif

namespace shard::cuda::kernel_math {

// Row b of gathered (value, index) pairs [parts][rows][2]: the index of the largest value,
// the lower part winning ties (strict >).
SHARD_HOST_DEVICE inline int best_of_pairs(const float* pairs, int parts, int rows, int b)
{
    float best = pairs[b * 2];
    int token = int(pairs[b * 2 + 1]);
    for (int r = 1; r < parts; ++r) {
        const float v = pairs[(std::int64_t(r) * rows + b) * 2];
        if (v > best) {
            best = v;
            token = int(pairs[(std::int64_t(r) * rows + b) * 2 + 1]);
        }
    }
    return token;
}

} // namespace shard::cuda::kernel_math
