#pragma once

#include "core/json_util.h"

#include <string>

namespace shard::cuda {

struct BenchOptions {
    bool quick = false; // fewer shapes and repetitions (a smoke run)
    std::string torch_json; // PyTorch timings of the same layer to set beside ours
};

// `shard-engine bench`: device copy bandwidth, cuBLAS rate, each sharded GEMM against
// standalone cuBLAS, a Llama-3.1-70B-shaped decoder layer (decode batch 1/8/64, prefill
// 2048, TP 1 and emulated TP 2/4/8) against the planner and the HBM / FLOP floors, CUDA
// graphs on and off, and emulated collective bandwidth against a device copy. Returns every
// figure as JSON; `report` receives the Markdown tables.
OrderedJson run_bench(const BenchOptions& options, std::string& report);

} // namespace shard::cuda
