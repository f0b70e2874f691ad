#pragma once

// The kernel conformance cases (kernel_conformance_cases.cpp), built once for the kernels
// and once for the host loops: both declarations are here, so that the test that compares
// them names both. Only types outside the launchers' namespace cross between the two.
#include "cuda/gpu_dtype.h"

#include <string>
#include <vector>

namespace shard::cuda::conformance {

struct Output {
    std::string kernel; // the launcher and its variant
    std::vector<float> values; // what it wrote, as fp32
    bool exact = false; // indices and counts: equal, not within a rounding
};
using Outputs = std::vector<Output>;

} // namespace shard::cuda::conformance

namespace shard::cuda::kernels {
conformance::Outputs conformance_outputs(GpuDType type, unsigned seed);
}
namespace shard::cuda::host_loops {
conformance::Outputs conformance_outputs(GpuDType type, unsigned seed);
}
