#pragma once

#include "gpu_dtype.h"

#include "cost/machine_profile.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace shard::cuda {

// What `shard-engine profile` measures: the families of the shipped tables the bundled
// engine has kernels for, at the shapes below. Cells a GPU has no memory for stay empty.
struct ProfileSweep {
    struct Gemm {
        GpuDType dtype;
        std::vector<std::int64_t> m; // rows
        std::vector<std::int64_t> nk; // n and k each take every value
    };
    struct AttentionShape {
        int head_dim, heads, kv_heads; // on one GPU
    };
    std::vector<Gemm> gemms;
    std::vector<AttentionShape> attention; // bf16, the engine's kernels
    std::vector<std::int64_t> attention_batches;
    std::vector<std::int64_t> prefill_tokens; // prompt lengths (the tables' isl)
    std::vector<std::int64_t> decode_cached; // tokens already cached (the tables' step)
    std::vector<std::int64_t> nccl_elements; // nccl-tests' size, in 2-byte elements
    int repetitions = 10;

    static ProfileSweep full();
    static ProfileSweep quick();
    // Points to measure: what progress counts against.
    int points(int devices) const;
};

struct ProfileProgress {
    std::string family; // "gemm bfloat16", "attention prefill", "nccl all_reduce on 4 GPUs"
    int done = 0, total = 0;
};

struct ProfileOptions {
    ProfileSweep sweep = ProfileSweep::full();
    int devices = 1; // NCCL groups of 2..devices, the first GPUs
    std::function<void(const ProfileProgress&)> on_progress;
    const std::atomic<bool>* cancel = nullptr; // set: stop with run::Cancelled between points
};

// Measures the sweep with the engine's cuBLAS calls, attention kernels and NCCL, and returns
// the tables (MachineProfile::tables) and what it left out (notes). The caller fills in
// where it ran: GPU, driver, versions, date, host model or not.
MachineProfile run_profile(const ProfileOptions& options);

} // namespace shard::cuda
