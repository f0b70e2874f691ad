#pragma once

// `shard-engine selftest`: the CPU executor's test models and the layouts the CUDA engine
// runs, each run on the GPU (emulated where the machine has fewer GPUs than ranks) and
// checked against the fp32 CPU reference forward with the same weights.
#include "gpu_dtype.h"
#include "gpu_executor.h"

#include "core/json_util.h"
#include "core/plan.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace shard::cuda {

struct SelftestCase {
    std::string name; // "tiny-dense TP4 Megatron+SP bf16"
    Plan plan;
    GpuDType dtype = GpuDType::F32;
    bool emulated = true;
    bool graphs = true;
    bool overlap = false; // --overlap on: collectives on their own streams, chunked all-reduces
    bool thread_per_gpu = true; // real GPUs: a host thread per GPU, or one for all (--threads one)
};

struct SelftestResult {
    SelftestCase test;
    bool passed = false;
    double max_relative_error = 0;
    double limit = 0;
    bool tokens_match = false;
    bool traffic_exact = false;
    std::string error; // set when the case threw
    std::string detail; // per step: relative error and sequences whose token differs
};

// The test models beside the presets: tiny-dense, a GPT-2-style model (LayerNorm, learned
// positions, biases, GELU, tied embeddings, a vocabulary that pads) and a Qwen3-style one
// (qk-norm, grouped KV heads).
ModelSpec selftest_model(const std::string& id);
std::vector<SelftestCase> selftest_cases(const std::vector<GpuDType>& dtypes, int gpus);
// How a case runs: its options, and the seed of the weights it shares with the CPU reference.
GpuRunOptions selftest_run_options(const SelftestCase& test);
constexpr std::uint64_t kSelftestWeightSeed = 42;
// The fp32 forward a case is checked against: the CPU executor's run_reference, handed in by
// whoever links both backends (shard-engine, the tests), so this one names no other backend.
using ReferenceForward = std::function<std::vector<run::StepOutput>(const Plan&, const run::ModelWeights&)>;
SelftestResult run_selftest_case(const SelftestCase& test, const ReferenceForward& reference);
OrderedJson to_json(const SelftestResult& result);

} // namespace shard::cuda
