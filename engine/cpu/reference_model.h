#pragma once

#include "shared_types.h"

#include <cstdint>
#include <vector>

namespace shard::cpu {

// The unsharded forward in fp32, written plainly: the oracle every sharded layout and the
// CUDA engine are checked against.
class ReferenceModel {
public:
    ReferenceModel(const ModelWeights& weights, int batch, int max_context);

    // `tokens` holds T tokens of each sequence (sequence-major, batch x T) at positions
    // [position, position + T); prefill is T = prompt, decode T = 1.
    StepOutput step(const std::vector<std::int64_t>& tokens, std::int64_t position, int T);

private:
    void attention_block(int layer, std::vector<float>& x, std::int64_t position, int T);
    void mlp_block(int layer, std::vector<float>& x, std::int64_t rows);
    void moe_block(int layer, std::vector<float>& x, std::int64_t rows);

    const ModelWeights& m_weights;
    const ModelSpec& m_model;
    int m_batch;
    int m_maxContext;
    // Per layer, per sequence: [max_context, kv_heads, head_dim].
    std::vector<std::vector<float>> m_keys;
    std::vector<std::vector<float>> m_values;
};

// One expert (or the shared experts) applied to `rows` rows: gated or plain MLP with the
// given weights; `out` is overwritten.
void expert_mlp(const ModelSpec& model, const Matrix* gate, const Matrix& up, const Matrix& down,
                const Matrix* gate_bias, const Matrix* up_bias, const Matrix* down_bias, std::span<const float> x,
                std::span<float> out, std::int64_t rows);

} // namespace shard::cpu
