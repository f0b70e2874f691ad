#pragma once

// What every backend's run produces and how it is stopped: the same types for the CPU
// executor and the CUDA engine, so one check and one report serve both.
#include "communicator.h"

#include "core/error.h"
#include "core/model_spec.h"

#include <cstdint>
#include <vector>

namespace shard::run {

// What one forward step produces for the last token of each sequence.
struct StepOutput {
    std::vector<float> hidden; // final-normed hidden state, [batch, hidden]
    std::vector<std::int64_t> next_tokens; // greedy argmax of the logits, [batch]
};

struct RunResult {
    std::vector<StepOutput> steps; // per step: all sequences of the batch, in batch order
    std::vector<RankLog> logs; // per rank (mesh position): every collective it made
    std::vector<int> rank_stage; // the pipeline stage of each rank
    double seconds = 0;
};

// A run or a profile stopped by its cancel flag.
class Cancelled : public Error {
public:
    using Error::Error;
};

// Deterministic prompt tokens (the same for every backend and run).
std::vector<std::int64_t> prompt_tokens(const ModelSpec& model, int batch, int prompt);

} // namespace shard::run
