#pragma once

// Launchers of the engine's CUDA kernels (defined in kernels.cu, the only place with device
// code). Buffers are device pointers of `type`; norm weights and biases are fp32; every
// reduction accumulates in fp32. Matrices are row-major, as in the CPU reference.
#include "gpu_dtype.h"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace shard::cuda::kernels {

enum class Act { SiLU, GELU, GELUTanh, ReLU };

void convert_from_f32(GpuDType type, void* out, const float* in, std::int64_t n, cudaStream_t s);
void convert_to_f32(GpuDType type, float* out, const void* in, std::int64_t n, cudaStream_t s);
void set_int(int* target, int value, cudaStream_t s);

// out[i] = table[tokens[i] - vocab_begin] if this rank holds that row, else zeros.
void embed(GpuDType type, void* out, const void* table, const int* tokens, std::int64_t rows, std::int64_t hidden,
           std::int64_t vocab_begin, std::int64_t vocab_rows, cudaStream_t s);
// Learned positions: x[i] += table[*pos + (first_row + i) % T].
void add_positions(GpuDType type, void* x, const void* table, std::int64_t rows, std::int64_t hidden,
                   std::int64_t first_row, int T, const int* pos, cudaStream_t s);
// out = norm(in) row by row (RMSNorm, or LayerNorm when bias is given or layer_norm).
void norm(GpuDType type, void* out, const void* in, const float* weight, const float* bias, bool layer_norm,
          std::int64_t rows, std::int64_t cols, float eps, cudaStream_t s);
// Grid layouts (kernels_grid.cu): a rank holds `cols` of each row's `hidden` columns.
// row_stats writes each row's partial sum of squares (RMSNorm) or [squares, sum]
// (LayerNorm) as fp32; once those are summed over the ranks that share the rows,
// chunk_norm normalises the chunk with them (mean and variance in double).
void row_stats(GpuDType type, float* stats, const void* in, std::int64_t rows, std::int64_t cols, bool layer_norm,
               cudaStream_t s);
void chunk_norm(GpuDType type, void* out, const void* in, const float* stats, const float* weight, const float* bias,
                bool layer_norm, std::int64_t rows, std::int64_t cols, std::int64_t hidden, double eps, cudaStream_t s);
// RMSNorm of each head (width d) of `heads` heads starting at column `col` of rows of `ld`.
void head_norm(GpuDType type, void* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d,
               const float* weight, float eps, cudaStream_t s);
void add_bias(GpuDType type, void* y, const float* bias, std::int64_t rows, std::int64_t cols, cudaStream_t s);
void add(GpuDType type, void* y, const void* x, std::int64_t n, cudaStream_t s);
// Rotate-half rotary embedding (base 10000) of `heads` heads at column `col`; row i sits at
// position *pos + i % T.
void rotary(GpuDType type, void* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d, int T,
            const int* pos, cudaStream_t s);
// Copies `kv_heads` heads at column `col` of `src` into the cache [seq][max_ctx][kv_heads][d]
// at positions *pos + t.
void write_cache(GpuDType type, void* cache, const void* src, std::int64_t ld, std::int64_t col, int seqs, int T,
                 int kv_heads, int d, int max_ctx, const int* pos, cudaStream_t s);
// Causal GQA attention of every query row against its sequence's cache (context *pos + t + 1),
// split over chunks of the context. `partials` is an fp32 workspace of
// rows x heads x attention_splits(max_ctx) x (d + 2).
int attention_splits(int max_ctx);
void attention(GpuDType type, const void* q, std::int64_t q_ld, const void* k_cache, const void* v_cache, void* out,
               float* partials, int seqs, int T, int heads, int kv_heads, int d, int max_ctx, const int* pos,
               cudaStream_t s);
// Prefill helper: probabilities P[head][t][ctx] (type) from fp32 scores S[head][t][ctx]
// already scaled, masking positions after pos0 + t.
void causal_softmax(GpuDType type, void* probs, const float* scores, int heads, int T, int ctx, int pos0,
                    cudaStream_t s);
// Gated: out[r][c] = act(in[r][c]) * in[r][width + c]; plain: in place act(x).
void gated(GpuDType type, void* out, const void* gate_up, std::int64_t rows, std::int64_t width, Act act,
           cudaStream_t s);
void activate(GpuDType type, void* x, std::int64_t n, Act act, cudaStream_t s);
// last[b] = x[b * T + T - 1].
void last_rows(GpuDType type, void* last, const void* x, int seqs, int T, std::int64_t hidden, cudaStream_t s);
// Per row: (max value, its global index as float) over the columns whose global index
// (index_base + c) is below `vocab`; ties to the lower index. pairs is fp32 [rows][2].
void argmax_rows(GpuDType type, float* pairs, const void* logits, int rows, std::int64_t cols, std::int64_t index_base,
                 std::int64_t vocab, cudaStream_t s);
// Combines gathered pairs [parts][rows][2] into tokens[rows] (strict >: the lower rank wins ties).
void argmax_pairs(int* tokens, const float* pairs, int parts, int rows, cudaStream_t s);

// MoE (kernels_moe.cu). Routing: per row of fp32 router logits [rows][experts], the k
// largest (ties to the lower expert) and their softmax weights, into [rows][k]; throws
// std::invalid_argument unless 1 <= k <= min(kMaxTopK, experts).
constexpr int kMaxTopK = 8;
void route_top_k(const float* logits, int rows, int experts, int k, int* out_experts, float* out_weights,
                 cudaStream_t s);
// Groups the `slots` (= rows x k) routed pairs by expert, stably: counts[experts],
// offsets[experts + 1], order[p] = the slot at expert-ordered place p, position[slot] = p.
void group_by_expert(const int* slot_experts, int slots, int experts, int* counts, int* offsets, int* order,
                     int* position, cudaStream_t s);
// out[p] = x[order[p] / k]: each routed slot's token row, in expert order.
void permute_rows(GpuDType type, void* out, const void* x, std::int64_t hidden, const int* order, int slots, int k,
                  cudaStream_t s);
// out[row] = sum over j of weights[row k + j] * y[position[row k + j]], only for slots whose
// expert is in [expert_begin, expert_end) (a rank's local experts; the rest is summed over
// ranks afterwards); fp32 accumulation in slot order; `out` is overwritten.
void unpermute_rows(GpuDType type, void* out, const void* y, std::int64_t hidden, const int* position,
                    const int* slot_experts, const float* weights, int rows, int k, int expert_begin, int expert_end,
                    cudaStream_t s);

// y[r][c] *= sigmoid(gate[r]) (the shared experts' gate; gate is fp32 [rows]).
void scale_rows_by_sigmoid(GpuDType type, void* y, const float* gate, std::int64_t rows, std::int64_t cols,
                           cudaStream_t s);

// Emulated collectives between `n` buffers on one device (at most kMaxRanks).
constexpr int kMaxRanks = 16;
struct Pointers {
    void* p[kMaxRanks];
};
void sum_all(GpuDType type, Pointers bufs, int n, std::int64_t count, cudaStream_t s);
void gather_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t s);
void reduce_scatter_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t s);
// out[r][i count + c] = in[i][r count + c]: chunk r of every member's input lands in member r.
void all_to_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t s);

} // namespace shard::cuda::kernels
