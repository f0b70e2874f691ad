#include "kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace shard::cpu {

void gemm(std::span<const float> x, std::span<const float> w, std::span<float> y, std::int64_t m, std::int64_t k,
          std::int64_t n, bool accumulate)
{
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1.0f, x.data(),
                blasint(k), w.data(), blasint(n), accumulate ? 1.0f : 0.0f, y.data(), blasint(n));
}

void add_bias(std::span<float> y, std::span<const float> bias, std::int64_t m, std::int64_t n)
{
    for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t c = 0; c < n; ++c)
            y[r * n + c] += bias[c];
}

void add(std::span<float> y, std::span<const float> x)
{
    for (std::size_t i = 0; i < y.size(); ++i)
        y[i] += x[i];
}

void rms_norm(std::span<float> x, std::span<const float> weight, std::int64_t rows, std::int64_t cols, float eps)
{
    for (std::int64_t r = 0; r < rows; ++r) {
        float* row = x.data() + r * cols;
        double sum = 0;
        for (std::int64_t c = 0; c < cols; ++c)
            sum += double(row[c]) * row[c];
        const float scale = float(1.0 / std::sqrt(sum / double(cols) + eps));
        for (std::int64_t c = 0; c < cols; ++c)
            row[c] = row[c] * scale * weight[c];
    }
}

void layer_norm(std::span<float> x, std::span<const float> weight, std::span<const float> bias, std::int64_t rows,
                std::int64_t cols, float eps)
{
    for (std::int64_t r = 0; r < rows; ++r) {
        float* row = x.data() + r * cols;
        double sum = 0;
        double squares = 0;
        for (std::int64_t c = 0; c < cols; ++c) {
            sum += row[c];
            squares += double(row[c]) * row[c];
        }
        const double mean = sum / double(cols);
        const double var = squares / double(cols) - mean * mean;
        const float scale = float(1.0 / std::sqrt(var + eps));
        for (std::int64_t c = 0; c < cols; ++c)
            row[c] = float((row[c] - mean) * scale) * weight[c] + bias[c];
    }
}

void norm(const ModelSpec& model, std::span<float> x, std::span<const float> weight, std::span<const float> bias,
          std::int64_t rows, std::int64_t cols)
{
    if (model.norm == NormKind::LayerNorm)
        layer_norm(x, weight, bias, rows, cols);
    else
        rms_norm(x, weight, rows, cols);
}

void rotate_head(float* head, int d, double position)
{
    const int half = d / 2;
    for (int i = 0; i < half; ++i) {
        const double freq = std::pow(10000.0, -2.0 * i / d);
        const double c = std::cos(position * freq);
        const double s = std::sin(position * freq);
        const float a = head[i];
        const float b = head[i + half];
        head[i] = float(a * c - b * s);
        head[i + half] = float(b * c + a * s);
    }
}

void rotary(std::span<float> x, std::int64_t rows, int heads, int d, std::span<const std::int64_t> positions)
{
    for (std::int64_t r = 0; r < rows; ++r)
        for (int h = 0; h < heads; ++h)
            rotate_head(x.data() + (r * heads + h) * d, d, double(positions[r]));
}

float activation(Activation act, float x)
{
    switch (act) {
    case Activation::SiLU:
        return x / (1.0f + std::exp(-x));
    case Activation::GELU:
        return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f)));
    case Activation::GELUTanh:
        return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case Activation::ReLU:
        return x > 0 ? x : 0.0f;
    }
    return x;
}

void activate(Activation act, std::span<float> x)
{
    for (auto& v : x)
        v = activation(act, v);
}

void gated(Activation act, std::span<const float> gate_up, std::span<float> out, std::int64_t rows, std::int64_t width)
{
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* gate = gate_up.data() + r * 2 * width;
        const float* up = gate + width;
        for (std::int64_t c = 0; c < width; ++c)
            out[r * width + c] = activation(act, gate[c]) * up[c];
    }
}

void attention(std::span<const float> q, std::span<const float> k_cache, std::span<const float> v_cache,
               std::span<float> out, std::int64_t rows, std::span<const std::int64_t> positions, int heads,
               int kv_heads, int d)
{
    const int group = heads / kv_heads;
    const float scale = 1.0f / std::sqrt(float(d));
    std::vector<float> scores;
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t context = positions[r] + 1; // causal: this position and all before it
        scores.resize(std::size_t(context));
        for (int h = 0; h < heads; ++h) {
            const float* qv = q.data() + (r * heads + h) * d;
            const int kvh = h / group;
            float best = -std::numeric_limits<float>::infinity();
            for (std::int64_t t = 0; t < context; ++t) {
                const float* kv = k_cache.data() + (t * kv_heads + kvh) * d;
                float dot = 0;
                for (int i = 0; i < d; ++i)
                    dot += qv[i] * kv[i];
                scores[t] = dot * scale;
                best = std::max(best, scores[t]);
            }
            double total = 0;
            for (std::int64_t t = 0; t < context; ++t) {
                scores[t] = std::exp(scores[t] - best);
                total += scores[t];
            }
            float* o = out.data() + (r * heads + h) * d;
            std::fill(o, o + d, 0.0f);
            for (std::int64_t t = 0; t < context; ++t) {
                const float p = float(scores[t] / total);
                const float* vv = v_cache.data() + (t * kv_heads + kvh) * d;
                for (int i = 0; i < d; ++i)
                    o[i] += p * vv[i];
            }
        }
    }
}

std::int64_t argmax(std::span<const float> x)
{
    std::int64_t best = 0;
    for (std::size_t i = 1; i < x.size(); ++i) {
        if (x[i] > x[best])
            best = std::int64_t(i);
    }
    return best;
}

void set_blas_threads(int threads)
{
    openblas_set_num_threads(threads);
}

} // namespace shard::cpu
