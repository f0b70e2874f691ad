#pragma once

#include "step_time.h"
#include "traffic.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shard::serving {

// The scheduler of one continuous-batching replica, as vLLM's: every step decodes one token
// of each running request, then spends what is left of the token budget on prompts (the
// running ones' next chunks, then new requests first come first served) while sequences
// and KV-cache blocks last. A decode that needs a block when none is free preempts the
// request admitted last; it is recomputed (its prompt and output so far prefilled again)
// when it is readmitted. With prefix caching (vLLM's automatic prefix caching, SGLang's
// radix cache) the full blocks of a prefix that a request has computed stay in the cache
// and later requests of the same prefix id start from them; a cached prefix no running
// request uses is evicted, least recently used first, when blocks run out.
struct SchedulerLimits {
    int max_seqs = 256; // running requests (vLLM max_num_seqs)
    std::int64_t max_batched_tokens = 8192; // tokens per step (max_num_batched_tokens)
    bool chunked_prefill = true; // off: a prompt is prefilled whole, in one step
    int block_size = 16; // tokens per KV-cache block
    std::int64_t kv_blocks = 0; // blocks the replica's KV cache holds
    bool prefix_caching = true;
    void validate() const;
};

struct RequestResult {
    std::int64_t id = 0;
    double arrival_s = 0, first_token_s = 0, finish_s = 0;
    int prompt = 0, output = 0;
    int preemptions = 0;
    int cached_tokens = 0; // of its prompt, read from the prefix cache (at its last admission)
    bool rejected = false; // its prompt and output cannot fit the KV cache even alone
    double ttft_ms() const { return (first_token_s - arrival_s) * 1000.0; }
    // Mean time between output tokens after the first (0 with one output token).
    double tpot_ms() const { return output > 1 ? (finish_s - first_token_s) * 1000.0 / (output - 1) : 0.0; }
    double e2e_ms() const { return e2e_s() * 1000.0; }
    double e2e_s() const { return finish_s - arrival_s; }
};

// The replica at the start of a step.
struct Sample {
    double t_s = 0;
    double step_ms = 0;
    int queued = 0; // arrived, not admitted
    int running = 0;
    std::int64_t kv_blocks_used = 0;
    std::int64_t batched_tokens = 0;
};

struct ReplicaRun {
    std::vector<RequestResult> requests; // by request id order of the input
    std::vector<Sample> steps;
    double end_s = 0; // when the last request finished
    std::int64_t preemptions = 0;
    std::int64_t prefill_tokens = 0; // prompt tokens computed, recomputation included
    std::int64_t prefix_hit_tokens = 0; // prompt tokens read from the prefix cache instead
    std::int64_t generated_tokens = 0;
    std::int64_t peak_kv_blocks = 0;
    // Time-weighted mean of the requests in the replica (queued or running) from the first
    // arrival to the last finish.
    double mean_in_system = 0;
};

// Runs `requests` (sorted by arrival) through one replica. With `users` set the traffic is a
// closed loop: that many requests start at 0 and each finished request releases the next
// one at its finish time (the requests' own arrival times are ignored).
ReplicaRun simulate_replica(const std::vector<Request>& requests, const SchedulerLimits& limits,
                            const StepTimeModel& step_time, std::optional<int> users = std::nullopt);

} // namespace shard::serving
