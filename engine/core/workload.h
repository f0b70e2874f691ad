#pragma once

#include "dtype.h"
#include "json_util.h"

#include <cstdint>
#include <string>

namespace shard {

struct ModelSpec;

enum class Phase { Prefill, Decode, Both };
// What the planner ranks by: time to first token, time per output token, aggregate
// tokens/s, or the smallest memory per device.
enum class Objective { TTFT, TPOT, Throughput, Memory };

struct Workload {
    Phase phase = Phase::Both;
    int batch = 1; // concurrent sequences
    int prompt = 1024; // prompt tokens per sequence (prefill)
    int generate = 128; // generated tokens per sequence (decode steps)
    DType dtype = DType::BF16; // weights and activations
    DType kv_dtype = DType::BF16; // KV cache
    Objective objective = Objective::TPOT;

    bool operator==(const Workload&) const = default;

    // Tokens in one forward step: batch * prompt for prefill, batch for decode.
    std::int64_t prefill_tokens() const { return std::int64_t(batch) * prompt; }
    std::int64_t decode_tokens() const { return batch; }
    std::int64_t context() const { return std::int64_t(prompt) + generate; }
    void validate() const; // each field inside its range (limits:: in checked_number.h)
    // validate(), and the tokens of a sequence fit the model's context.
    void validate_for(const ModelSpec& model) const;
};

std::string to_string(Phase phase);
std::string to_string(Objective objective);
Phase parse_phase(const std::string& text);
Objective parse_objective(const std::string& text);

OrderedJson workload_to_json(const Workload& workload);
Workload workload_from_json(const Json& json, const std::string& context);

} // namespace shard
