// The engine's kernel launchers (engine/cuda/kernels.h) run on the host for the
// host-executed engine tests: each does what its CUDA kernel does, element for element, in
// plain fp32 loops over buffers of fp32, fp16 or bf16 (the decode attention without its
// context split: the same softmax, computed in one pass).
#include "cuda/kernels.h"
#include "host_elements.h"
#include "host_streams.h"

#include "core/error.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
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
        return x / (1.0f + std::exp(-x));
    case Act::GELU:
        return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Act::GELUTanh:
        return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case Act::ReLU:
        return x > 0 ? x : 0.0f;
    }
    return x;
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
        const bool ln = layer_norm || bias;
        for (std::int64_t r = 0; r < rows; ++r) {
            const Values row = Values(type, in) + r * cols;
            float sum = 0, squares = 0;
            for (std::int64_t c = 0; c < cols; ++c) {
                sum += row[c];
                squares += row[c] * row[c];
            }
            const float mean = ln ? sum / float(cols) : 0.0f;
            const float var = ln ? squares / float(cols) - mean * mean : squares / float(cols);
            const float scale = 1.0f / std::sqrt(var + eps);
            for (std::int64_t c = 0; c < cols; ++c)
                Elements(type, out)[r * cols + c] = (row[c] - mean) * scale * weight[c] + (bias ? bias[c] : 0.0f);
        }
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
        for (std::int64_t r = 0; r < rows; ++r)
            for (int h = 0; h < heads; ++h) {
                const Elements v = Elements(type, x) + (r * ld + col + std::int64_t(h) * d);
                float squares = 0;
                for (int i = 0; i < d; ++i)
                    squares += v[i] * v[i];
                const float scale = 1.0f / std::sqrt(squares / float(d) + eps);
                for (int i = 0; i < d; ++i)
                    v[i] = v[i] * scale * weight[i];
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
        const int half = d / 2;
        for (std::int64_t r = 0; r < rows; ++r)
            for (int h = 0; h < heads; ++h)
                for (int i = 0; i < half; ++i) {
                    const double p = double(*pos + r % T);
                    const double freq = std::pow(10000.0, -2.0 * i / d);
                    const double s = std::sin(p * freq), c = std::cos(p * freq);
                    const Elements v = Elements(type, x) + (r * ld + col + std::int64_t(h) * d);
                    const float a = v[i], b = v[i + half];
                    v[i] = float(a * c - b * s);
                    v[i + half] = float(b * c + a * s);
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
        const int group = heads / kv_heads;
        const std::int64_t kv_width = std::int64_t(kv_heads) * d;
        std::vector<float> scores;
        for (std::int64_t row = 0; row < std::int64_t(seqs) * T; ++row) {
            const std::int64_t seq = row / T;
            const int ctx = *pos + int(row % T) + 1;
            scores.assign(std::size_t(ctx), 0.0f);
            for (int h = 0; h < heads; ++h) {
                const int kvh = h / group;
                const Values qh = Values(type, q) + (row * q_ld + std::int64_t(h) * d);
                float best = -FLT_MAX;
                for (int p = 0; p < ctx; ++p) {
                    const Values k = Values(type, k_cache) + ((seq * max_ctx + p) * kv_width + std::int64_t(kvh) * d);
                    float dot = 0;
                    for (int i = 0; i < d; ++i)
                        dot += qh[i] * k[i];
                    scores[std::size_t(p)] = dot / std::sqrt(float(d));
                    best = std::max(best, scores[std::size_t(p)]);
                }
                float total = 0;
                for (int p = 0; p < ctx; ++p)
                    total += scores[std::size_t(p)] = std::exp(scores[std::size_t(p)] - best);
                for (int c = 0; c < d; ++c) {
                    float acc = 0;
                    for (int p = 0; p < ctx; ++p)
                        acc += scores[std::size_t(p)]
                               * Values(type, v_cache)[(seq * max_ctx + p) * kv_width + std::int64_t(kvh) * d + c];
                    Elements(type, out)[(row * heads + h) * d + c] = acc / total;
                }
            }
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
        for (int b = 0; b < rows; ++b) {
            float best = pairs[b * 2];
            int token = int(pairs[b * 2 + 1]);
            for (int r = 1; r < parts; ++r) {
                const float v = pairs[(std::int64_t(r) * rows + b) * 2];
                if (v > best) {
                    best = v;
                    token = int(pairs[(std::int64_t(r) * rows + b) * 2 + 1]);
                }
            }
            tokens[b] = token;
        }
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
        for (int row = 0; row < rows; ++row) {
            const float* l = logits + std::int64_t(row) * experts;
            const float best = *std::max_element(l, l + experts);
            int chosen[kMaxTopK];
            float p[kMaxTopK];
            float sum = 0;
            for (int j = 0; j < k; ++j) {
                int arg = -1;
                float value = -FLT_MAX;
                for (int e = 0; e < experts; ++e) {
                    const bool taken = std::find(chosen, chosen + j, e) != chosen + j;
                    if (!taken && (arg < 0 || l[e] > value)) {
                        arg = e;
                        value = l[e];
                    }
                }
                chosen[j] = arg;
                p[j] = std::exp(value - best);
                sum += p[j];
            }
            for (int j = 0; j < k; ++j) {
                out_experts[std::int64_t(row) * k + j] = chosen[j];
                out_weights[std::int64_t(row) * k + j] = p[j] / sum;
            }
        }
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
