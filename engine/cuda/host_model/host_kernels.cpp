// The engine's kernel launchers (engine/cuda/kernels.h) run on the host for the
// host-executed engine tests: each does what its CUDA kernel does over buffers of fp32,
// fp16 or bf16. Where the CPU reference has the same operation (norms, rotary, activations,
// attention, routing) the loop widens its operands to fp32, calls the reference and rounds
// what it stores; the rest are plain fp32 loops. tst_kernel_conformance keeps these loops
// and the kernels themselves equal.
#include "cuda/kernel_math.h"
#include "cuda/kernels.h"
#include "host_elements.h"
#include "host_streams.h"

#include "core/error.h"
#include "cpu/kernels.h"
#include "run/routing.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace shard::cuda::kernels {

namespace {

using host::Elements;
using host::Values;

float apply(Act act, float x)
{
    switch (act) {
    case Act::SiLU:
        return cpu::activation(Activation::SiLU, x);
    case Act::GELU:
        return cpu::activation(Activation::GELU, x);
    case Act::GELUTanh:
        return cpu::activation(Activation::GELUTanh, x);
    case Act::ReLU:
        return cpu::activation(Activation::ReLU, x);
    }
    return x;
}

// n elements of a typed buffer from `index` on, as fp32.
std::vector<float> widen(GpuDType type, const void* base, std::int64_t index, std::int64_t n)
{
    std::vector<float> out(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
        out[std::size_t(i)] = host::load(type, base, index + i);
    return out;
}

// Stores fp32 values into a typed buffer from `index` on, each rounded to its type.
void narrow(GpuDType type, void* base, std::int64_t index, std::span<const float> values)
{
    for (std::size_t i = 0; i < values.size(); ++i)
        host::store(type, base, index + std::int64_t(i), values[i]);
}

} // namespace

void convert_from_f32(GpuDType type, void* out, const float* in, std::int64_t n, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t i = 0; i < n; ++i)
            host::store(type, out, i, in[i]);
    });
}

void convert_to_f32(GpuDType type, float* out, const void* in, std::int64_t n, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t i = 0; i < n; ++i)
            out[i] = host::load(type, in, i);
    });
}

void set_int(int* target, int value, cudaStream_t stream)
{
    host::enqueue(stream, [=] { *target = value; });
}

void embed(GpuDType type, void* out, const void* table, const int* tokens, std::int64_t rows, std::int64_t hidden,
           std::int64_t vocab_begin, std::int64_t vocab_rows, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t v = std::int64_t(tokens[r]) - vocab_begin;
            for (std::int64_t c = 0; c < hidden; ++c)
                Elements(type, out)[r * hidden + c] =
                    v >= 0 && v < vocab_rows ? Values(type, table)[v * hidden + c] : 0.0f;
        }
    });
}

void add_positions(GpuDType type, void* x, const void* table, std::int64_t rows, std::int64_t hidden,
                   std::int64_t first_row, int T, const int* pos, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t p = *pos + (first_row + r) % T;
            for (std::int64_t c = 0; c < hidden; ++c)
                Elements(type, x)[r * hidden + c] += Values(type, table)[p * hidden + c];
        }
    });
}

void norm(GpuDType type, void* out, const void* in, const float* weight, const float* bias, bool layer_norm,
          std::int64_t rows, std::int64_t cols, float eps, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        const std::span<const float> w(weight, std::size_t(cols));
        const std::vector<float> zeros(bias ? 0 : std::size_t(cols), 0.0f);
        const std::span<const float> b = bias ? std::span<const float>(bias, std::size_t(cols)) : zeros;
        std::vector<float> x = widen(type, in, 0, rows * cols);
        if (layer_norm || bias)
            cpu::layer_norm(x, w, b, rows, cols, eps);
        else
            cpu::rms_norm(x, w, rows, cols, eps);
        narrow(type, out, 0, x);
    });
}

void row_stats(GpuDType type, float* stats, const void* in, std::int64_t rows, std::int64_t cols, bool layer_norm,
               cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        const Values x(type, in);
        for (std::int64_t r = 0; r < rows; ++r) {
            float sum = 0, squares = 0;
            for (std::int64_t c = 0; c < cols; ++c) {
                sum += x[r * cols + c];
                squares += x[r * cols + c] * x[r * cols + c];
            }
            if (layer_norm) {
                stats[2 * r] = squares;
                stats[2 * r + 1] = sum;
            } else {
                stats[r] = squares;
            }
        }
    });
}

void chunk_norm(GpuDType type, void* out, const void* in, const float* stats, const float* weight, const float* bias,
                bool layer_norm, std::int64_t rows, std::int64_t cols, std::int64_t hidden, double eps,
                cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t r = 0; r < rows; ++r) {
            const double mean = layer_norm ? double(stats[2 * r + 1]) / double(hidden) : 0.0;
            const double var = double(stats[layer_norm ? 2 * r : r]) / double(hidden) - mean * mean;
            const float scale = float(1.0 / std::sqrt(var + eps));
            for (std::int64_t c = 0; c < cols; ++c)
                Elements(type, out)[r * cols + c] =
                    float((double(Values(type, in)[r * cols + c]) - mean) * double(scale)) * weight[c]
                    + (bias ? bias[c] : 0.0f);
        }
    });
}

void head_norm(GpuDType type, void* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d,
               const float* weight, float eps, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t first = r * ld + col;
            std::vector<float> row = widen(type, x, first, std::int64_t(heads) * d);
            cpu::rms_norm(row, std::span<const float>(weight, std::size_t(d)), heads, d, eps);
            narrow(type, x, first, row);
        }
    });
}

void add_bias(GpuDType type, void* y, const float* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t i = 0; i < rows * cols; ++i)
            Elements(type, y)[i] += bias[i % cols];
    });
}

void add(GpuDType type, void* y, const void* x, std::int64_t n, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t i = 0; i < n; ++i)
            Elements(type, y)[i] += Values(type, x)[i];
    });
}

void rotary(GpuDType type, void* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d, int T,
            const int* pos, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t first = r * ld + col;
            std::vector<float> row = widen(type, x, first, std::int64_t(heads) * d);
            for (int h = 0; h < heads; ++h)
                cpu::rotate_head(row.data() + std::int64_t(h) * d, d, double(*pos + r % T));
            narrow(type, x, first, row);
        }
    });
}

void write_cache(GpuDType type, void* cache, const void* src, std::int64_t ld, std::int64_t col, int seqs, int T,
                 int kv_heads, int d, int max_ctx, const int* pos, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        const std::int64_t width = std::int64_t(kv_heads) * d;
        for (std::int64_t row = 0; row < std::int64_t(seqs) * T; ++row) {
            const std::int64_t p = *pos + row % T;
            host::copy(type, cache, ((row / T) * max_ctx + p) * width, src, row * ld + col, width);
        }
    });
}

int attention_splits(int max_ctx)
{
    return (max_ctx + 63) / 64;
}

void attention(GpuDType type, const void* q, std::int64_t q_ld, const void* k_cache, const void* v_cache, void* out,
               float*, int seqs, int T, int heads, int kv_heads, int d, int max_ctx, const int* pos,
               cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        const std::int64_t kv_width = std::int64_t(kv_heads) * d;
        const std::int64_t q_width = std::int64_t(heads) * d;
        std::vector<std::int64_t> positions(static_cast<std::size_t>(T));
        for (int t = 0; t < T; ++t)
            positions[std::size_t(t)] = *pos + t;
        const std::int64_t context = *pos + T;
        std::vector<float> q_rows(std::size_t(T * q_width));
        std::vector<float> result(q_rows.size());
        for (std::int64_t seq = 0; seq < seqs; ++seq) {
            for (int t = 0; t < T; ++t) {
                const std::vector<float> row = widen(type, q, (seq * T + t) * q_ld, q_width);
                std::copy(row.begin(), row.end(), q_rows.begin() + std::int64_t(t) * q_width);
            }
            const std::vector<float> k = widen(type, k_cache, seq * max_ctx * kv_width, context * kv_width);
            const std::vector<float> v = widen(type, v_cache, seq * max_ctx * kv_width, context * kv_width);
            cpu::attention(q_rows, k, v, result, T, positions, heads, kv_heads, d);
            narrow(type, out, seq * T * q_width, result);
        }
    });
}

void causal_softmax(GpuDType type, void* probs, const float* scores, int heads, int T, int ctx, int pos0,
                    cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t item = 0; item < std::int64_t(heads) * T; ++item) {
            const int valid = pos0 + int(item % T) + 1;
            const float* s = scores + item * ctx;
            float best = -FLT_MAX;
            for (int c = 0; c < valid; ++c)
                best = std::max(best, s[c]);
            float total = 0;
            for (int c = 0; c < valid; ++c)
                total += std::exp(s[c] - best);
            for (int c = 0; c < ctx; ++c)
                Elements(type, probs)[item * ctx + c] = c < valid ? std::exp(s[c] - best) / total : 0.0f;
        }
    });
}

void gated(GpuDType type, void* out, const void* gate_up, std::int64_t rows, std::int64_t width, Act act,
           cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        const Values in(type, gate_up);
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t c = 0; c < width; ++c)
                Elements(type, out)[r * width + c] = apply(act, in[r * 2 * width + c]) * in[r * 2 * width + width + c];
    });
}

void activate(GpuDType type, void* x, std::int64_t n, Act act, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t i = 0; i < n; ++i)
            Elements(type, x)[i] = apply(act, Values(type, x)[i]);
    });
}

void last_rows(GpuDType type, void* last, const void* x, int seqs, int T, std::int64_t hidden, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (int b = 0; b < seqs; ++b)
            host::copy(type, last, b * hidden, x, (std::int64_t(b) * T + T - 1) * hidden, hidden);
    });
}

void argmax_rows(GpuDType type, float* pairs, const void* logits, int rows, std::int64_t cols, std::int64_t index_base,
                 std::int64_t vocab, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (int r = 0; r < rows; ++r) {
            float value = -FLT_MAX;
            std::int64_t index = -1;
            for (std::int64_t c = 0; c < cols && index_base + c < vocab; ++c) {
                const float v = Values(type, logits)[r * cols + c];
                if (index < 0 || v > value) {
                    value = v;
                    index = index_base + c;
                }
            }
            pairs[r * 2] = index < 0 ? -FLT_MAX : value;
            pairs[r * 2 + 1] = float(index < 0 ? 0 : index);
        }
    });
}

void argmax_pairs(int* tokens, const float* pairs, int parts, int rows, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (int b = 0; b < rows; ++b)
            tokens[b] = kernel_math::best_of_pairs(pairs, parts, rows, b);
    });
}

void route_top_k(const float* logits, int rows, int experts, int k, int* out_experts, float* out_weights,
                 cudaStream_t stream)
{
    if (k < 1 || k > kMaxTopK || k > experts)
        throw std::invalid_argument("top-" + std::to_string(k) + " routing over " + std::to_string(experts)
                                    + " experts: k must be 1 to " + std::to_string(kMaxTopK)
                                    + " and at most the experts");
    host::enqueue(stream, [=] {
        const run::Routing routing = run::route_tokens(
            std::span<const float>(logits, std::size_t(rows) * std::size_t(experts)), rows, experts, k);
        std::copy(routing.experts.begin(), routing.experts.end(), out_experts);
        std::copy(routing.weights.begin(), routing.weights.end(), out_weights);
    });
}

void group_by_expert(const int* slot_experts, int slots, int experts, int* counts, int* offsets, int* order,
                     int* position, cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        std::fill(counts, counts + experts, 0);
        for (int s = 0; s < slots; ++s)
            ++counts[slot_experts[s]];
        int at = 0;
        for (int e = 0; e < experts; ++e) {
            offsets[e] = at;
            at += counts[e];
        }
        offsets[experts] = at;
        std::vector<int> next(offsets, offsets + experts);
        for (int s = 0; s < slots; ++s) { // stable: slots in order within an expert
            const int p = next[std::size_t(slot_experts[s])]++;
            order[p] = s;
            position[s] = p;
        }
    });
}

void permute_rows(GpuDType type, void* out, const void* x, std::int64_t hidden, const int* order, int slots, int k,
                  cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (int p = 0; p < slots; ++p)
            host::copy(type, out, std::int64_t(p) * hidden, x, std::int64_t(order[p] / k) * hidden, hidden);
    });
}

void unpermute_rows(GpuDType type, void* out, const void* y, std::int64_t hidden, const int* position,
                    const int* slot_experts, const float* weights, int rows, int k, int expert_begin, int expert_end,
                    cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (int row = 0; row < rows; ++row)
            for (std::int64_t c = 0; c < hidden; ++c) {
                float sum = 0;
                for (int j = 0; j < k; ++j) {
                    const std::int64_t slot = std::int64_t(row) * k + j;
                    const int e = slot_experts[slot];
                    if (e >= expert_begin && e < expert_end)
                        sum += weights[slot] * Values(type, y)[std::int64_t(position[slot]) * hidden + c];
                }
                Elements(type, out)[std::int64_t(row) * hidden + c] = sum;
            }
    });
}

void scale_rows_by_sigmoid(GpuDType type, void* y, const float* gate, std::int64_t rows, std::int64_t cols,
                           cudaStream_t stream)
{
    host::enqueue(stream, [=] {
        for (std::int64_t i = 0; i < rows * cols; ++i)
            Elements(type, y)[i] *= 1.0f / (1.0f + std::exp(-gate[i / cols]));
    });
}

} // namespace shard::cuda::kernels
