#pragma once

// The MoE kernels (routing, grouping by expert, permute, weighted un-permute) on the GPU
// against the CPU reference's routing and a host computation of the same data movement.
// Part of `shard-engine selftest`; the whole-model MoE path builds on these.
#include "gpu_dtype.h"

#include "core/json_util.h"

#include <string>
#include <vector>

namespace shard::cuda {

struct MoeKernelCase {
    std::string name; // "moe kernels 64 rows, 8 experts, top-2, 128 wide, bf16"
    int rows = 1;
    int experts = 8;
    int k = 2;
    int hidden = 64;
    GpuDType dtype = GpuDType::F32;
};

struct MoeKernelResult {
    MoeKernelCase test;
    bool passed = false;
    double max_relative_error = 0; // of the un-permuted sums
    double limit = 0;
    std::string failure; // the first check that failed, named
};

std::vector<MoeKernelCase> moe_kernel_cases();
MoeKernelResult run_moe_kernel_case(const MoeKernelCase& test, int device = 0);
OrderedJson to_json(const MoeKernelResult& result);

} // namespace shard::cuda
