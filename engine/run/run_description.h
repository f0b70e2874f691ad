#pragma once

// What a run is, decided once: the plan as loaded and checked, and the run's settings
// (backend, element type, graphs, overlap, threads, steps, weights) checked against it.
// The CLI and shard-engine build it from their options with describe_run; the CLI hands
// it to shard-engine as JSON, which takes it as it stands.
#include "core/json_util.h"
#include "core/plan.h"

#include <cstdint>
#include <string>

namespace shard::run {

enum class Backend { Cpu, Cuda, CudaEmulated };
std::string to_string(Backend backend);

// A run's options as a user writes them (command-line text); describe_run checks each.
struct RunRequest {
    std::string backend = "cpu";
    std::string dtype = "bf16"; // the cuda backends; the cpu backend computes in fp32
    std::string graphs = "on";
    std::string overlap = "off";
    std::string threads = "per-gpu"; // per-gpu or one (a host thread drives every GPU)
    int steps = -1; // decode steps; -1: the plan's generated tokens
    std::uint64_t seed = 42; // of the generated weights
    std::string weights; // a .safetensors file instead of generated weights
};

struct RunDescription {
    static constexpr int kFormatVersion = 1;
    static constexpr const char* kFormatName = "shardstudio-run";

    Plan plan; // as loaded: what the run is stored with
    Backend backend = Backend::Cpu;
    DType dtype = DType::FP32; // what the run computes in
    bool graphs = true;
    bool overlap = false;
    bool thread_per_gpu = true;
    int decode_steps = 0;
    std::uint64_t seed = 42;
    std::string weights;

    int steps() const { return 1 + decode_steps; } // the prefill and every decode step
    bool on_gpu() const { return backend != Backend::Cpu; }
    // The plan priced as this run computes it: the cuda backends' element type decides the
    // predicted bytes and times.
    Plan priced_plan() const;

    bool operator==(const RunDescription&) const = default;
};

// "on" or "off", for the option named `option`.
bool parse_on_off(const std::string& text, const char* option);
// The element types the CUDA engine computes in: bf16, fp16 or fp32 (or their long names).
DType parse_gpu_element_type(const std::string& text);

// Checks every option against the plan; an error names the option and the value.
RunDescription describe_run(Plan plan, const RunRequest& request);

OrderedJson run_description_to_json(const RunDescription& run);
// Reads what run_description_to_json wrote; the plan inside is the one describe_run checked.
RunDescription run_description_from_json(const Json& json, const std::string& source);
RunDescription run_description_from_text(const std::string& text, const std::string& source);

} // namespace shard::run
