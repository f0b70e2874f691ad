#pragma once

#include "core/model_spec.h"

#include <cstdint>
#include <span>
#include <vector>

namespace shard::cpu {

// fp32 building blocks of the reference forward. Matrices are row-major; a linear layer is
// Y[m,n] = X[m,k] W[k,n] (+ bias), as everywhere in ShardStudio.
void gemm(std::span<const float> x, std::span<const float> w, std::span<float> y, std::int64_t m, std::int64_t k,
          std::int64_t n, bool accumulate = false);
void add_bias(std::span<float> y, std::span<const float> bias, std::int64_t m, std::int64_t n);
void add(std::span<float> y, std::span<const float> x);

// Row statistics are separate from the normalisation so that 2D/3D layouts can all-reduce
// partial sums of rows split over devices.
void rms_norm(std::span<float> x, std::span<const float> weight, std::int64_t rows, std::int64_t cols,
              float eps = 1e-5f);
void layer_norm(std::span<float> x, std::span<const float> weight, std::span<const float> bias, std::int64_t rows,
                std::int64_t cols, float eps = 1e-5f);
void norm(const ModelSpec& model, std::span<float> x, std::span<const float> weight, std::span<const float> bias,
          std::int64_t rows, std::int64_t cols);

// Rotary embedding (rotate-half form, base 10000) on `heads` heads of width d per row.
void rotary(std::span<float> x, std::int64_t rows, int heads, int d, std::span<const std::int64_t> positions);

// Rotates one head of width d at `position` in place: the pair (i, i + d/2) by
// position * 10000^(-2i/d).
void rotate_head(float* head, int d, double position);

// One activation value: what activate and gated apply to each element.
float activation(Activation act, float x);
void activate(Activation act, std::span<float> x);
// Gated MLP: out[i] = act(gate[i]) * up[i], with gate and up packed per row as [gate | up].
void gated(Activation act, std::span<const float> gate_up, std::span<float> out, std::int64_t rows, std::int64_t width);

// Causal attention of `q` rows (heads x d each) against a KV cache of `context` positions
// (kv_heads x d each); query head h reads KV head h / (heads / kv_heads).
void attention(std::span<const float> q, std::span<const float> k_cache, std::span<const float> v_cache,
               std::span<float> out, std::int64_t rows, std::span<const std::int64_t> positions, int heads,
               int kv_heads, int d);

// Index of the largest value; ties go to the smallest index.
std::int64_t argmax(std::span<const float> x);

// Lets each rank thread use one BLAS thread (ranks already run in parallel).
void set_blas_threads(int threads);

} // namespace shard::cpu
