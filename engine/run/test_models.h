#pragma once

#include "core/model_spec.h"

#include <string>

namespace shard::run {

// Small models beside the presets that exercise what the presets do not, shared by the CPU
// executor's tests and the CUDA engine's selftest: "tiny-gpt2" (LayerNorm, learned
// positions, biases everywhere, plain GELU MLP, tied embeddings, a vocabulary that pads),
// "tiny-qk-norm" (Qwen3-style qk-norm, grouped KV heads) and "tiny-gqa-d32" (32-wide heads,
// 4 query heads per KV head). Any other id is looked up among the presets.
ModelSpec test_model(const std::string& id);

} // namespace shard::run
