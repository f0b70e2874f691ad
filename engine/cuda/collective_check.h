#pragma once

// The device collectives (emulated, and NCCL where there are two GPUs or more) against a host
// computation: all-reduce, all-gather, reduce-scatter and all-to-all, bit for bit (the
// values are small integers, exact in every dtype). Part of `shard-engine selftest`.
#include "gpu_dtype.h"

#include "core/json_util.h"

#include <string>
#include <vector>

namespace shard::cuda {

struct CollectiveCase {
    std::string name; // "collectives emulated x4 all_to_all bf16"
    std::string op; // all_reduce, all_gather, reduce_scatter, all_to_all
    int members = 2;
    bool emulated = true;
    GpuDType dtype = GpuDType::F32;
};

struct CollectiveCheckResult {
    CollectiveCase test;
    bool passed = false;
    std::string failure;
};

// Emulated groups of 2, 4 and 8 on GPU 0; NCCL over up to 8 GPUs when `gpus` >= 2.
std::vector<CollectiveCase> collective_cases(int gpus);
CollectiveCheckResult run_collective_case(const CollectiveCase& test);
OrderedJson to_json(const CollectiveCheckResult& result);

} // namespace shard::cuda
