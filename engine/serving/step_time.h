#pragma once

#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/topology.h"
#include "core/workload.h"
#include "cost/hardware_model.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shard::serving {

// What one step of a continuous-batching replica runs: prompt tokens of requests still in
// prefill (whole prompts or chunks) and one token of each decoding request.
struct StepBatch {
    std::int64_t prefill_tokens = 0;
    int decode_seqs = 0;
    std::int64_t decode_context = 0; // tokens the decoding requests attend over, summed
};

// The time of one step, ms.
class StepTimeModel {
public:
    virtual ~StepTimeModel() = default;
    virtual double ms(const StepBatch& batch) const = 0;
};

// Every step takes the same time (queueing checks, tests).
class FixedStepTime final : public StepTimeModel {
public:
    explicit FixedStepTime(double ms)
        : m_ms(ms)
    { }
    double ms(const StepBatch&) const override { return m_ms; }

private:
    double m_ms;
};

// Step times of one replica's layout from the cost model (estimate()), sampled once on a
// grid and interpolated: a decode step of B sequences at context L (linear in both between
// samples), a prefill chunk of N tokens (one sequence of N prompt tokens). A mixed step
// runs its decode tokens through the prefill chunk's GEMMs, so it takes the longer of the
// decode step and a chunk of N + B tokens.
class CostModelStepTime final : public StepTimeModel {
public:
    // `max_batched_tokens`: the largest step, whose activations the KV cache leaves room for.
    CostModelStepTime(const ModelSpec& model, const Strategy& strategy, const Topology& topology, DType dtype,
                      DType kv_dtype, int max_seqs, int max_context, int max_batched_tokens,
                      const Efficiency& efficiency = {});
    double ms(const StepBatch& batch) const override;
    double decode_ms(double seqs, double context) const;
    double prefill_ms(double tokens) const;

    // KV-cache tokens one replica holds (per device, after weights, activations and the
    // runtime reserve), and what the times are predicted from.
    std::int64_t kv_capacity_tokens() const { return m_kv_tokens; }
    const std::string& source() const { return m_source; }

private:
    std::vector<double> m_seqs, m_contexts, m_chunks; // sample axes, ascending
    std::vector<double> m_decode; // [seqs][contexts], ms
    std::vector<double> m_prefill; // [chunks], ms
    std::int64_t m_kv_tokens = 0;
    std::string m_source;
};

} // namespace shard::serving
