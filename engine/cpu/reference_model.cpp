#include "reference_model.h"

#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace shard::cpu {

namespace {

const Matrix* optional(const ModelWeights& w, const std::string& name)
{
    return w.has(name) ? &w.get(name) : nullptr;
}

std::span<const float> bias_of(const ModelWeights& w, const std::string& name)
{
    return w.has(name) ? std::span<const float>(w.get(name).data) : std::span<const float>();
}

} // namespace

void expert_mlp(const ModelSpec& model, const Matrix* gate, const Matrix& up, const Matrix& down,
                const Matrix* gate_bias, const Matrix* up_bias, const Matrix* down_bias, std::span<const float> x,
                std::span<float> out, std::int64_t rows)
{
    const std::int64_t h = up.rows;
    const std::int64_t width = up.cols;
    std::vector<float> hidden(std::size_t(rows * width));
    gemm(x, up.data, hidden, rows, h, width);
    if (up_bias)
        add_bias(hidden, up_bias->data, rows, width);
    if (gate) {
        std::vector<float> g(std::size_t(rows * width));
        gemm(x, gate->data, g, rows, h, width);
        if (gate_bias)
            add_bias(g, gate_bias->data, rows, width);
        activate(model.activation, g);
        for (std::size_t i = 0; i < hidden.size(); ++i)
            hidden[i] *= g[i];
    } else {
        activate(model.activation, hidden);
    }
    gemm(hidden, down.data, out, rows, width, down.cols);
    if (down_bias)
        add_bias(out, down_bias->data, rows, down.cols);
}

ReferenceModel::ReferenceModel(const ModelWeights& weights, int batch, int max_context)
    : m_weights(weights)
    , m_model(weights.model())
    , m_batch(batch)
    , m_maxContext(max_context)
{
    const std::size_t cache = std::size_t(batch) * max_context * m_model.kv_heads * m_model.head_dim;
    m_keys.assign(m_model.layers, std::vector<float>(cache));
    m_values.assign(m_model.layers, std::vector<float>(cache));
}

StepOutput ReferenceModel::step(const std::vector<std::int64_t>& tokens, std::int64_t position, int T)
{
    const ModelSpec& m = m_model;
    const std::int64_t h = m.hidden;
    const std::int64_t rows = std::int64_t(m_batch) * T;
    std::vector<float> x(std::size_t(rows * h));
    const Matrix& embed = m_weights.get("embed");
    for (std::int64_t r = 0; r < rows; ++r) {
        const auto e = embed.row(tokens[r]);
        std::copy(e.begin(), e.end(), x.begin() + r * h);
        if (m.position == PositionKind::Learned)
            add({x.data() + r * h, std::size_t(h)}, m_weights.get("positions").row(position + r % T));
    }
    for (int l = 0; l < m.layers; ++l) {
        attention_block(l, x, position, T);
        if (m.is_moe_layer(l))
            moe_block(l, x, rows);
        else
            mlp_block(l, x, rows);
    }
    StepOutput out;
    out.hidden.resize(std::size_t(m_batch * h));
    for (int b = 0; b < m_batch; ++b) // last token of each sequence
        std::copy(x.begin() + (std::int64_t(b) * T + T - 1) * h, x.begin() + (std::int64_t(b) * T + T) * h,
                  out.hidden.begin() + b * h);
    norm(m, out.hidden, m_weights.get("final_norm").data, bias_of(m_weights, "final_norm.bias"), m_batch, h);
    const Matrix& head = m.tied_embeddings ? embed : m_weights.get("lm_head");
    std::vector<float> logits(std::size_t(m.vocab));
    for (int b = 0; b < m_batch; ++b) {
        const std::span<const float> hb(out.hidden.data() + b * h, std::size_t(h));
        if (m.tied_embeddings) {
            for (std::int64_t v = 0; v < m.vocab; ++v) {
                const auto e = head.row(v);
                logits[v] = std::inner_product(hb.begin(), hb.end(), e.begin(), 0.0f);
            }
        } else {
            gemm(hb, head.data, logits, 1, h, m.vocab);
        }
        out.next_tokens.push_back(argmax(logits));
    }
    return out;
}

void ReferenceModel::attention_block(int l, std::vector<float>& x, std::int64_t position, int T)
{
    const ModelSpec& m = m_model;
    const auto& w = m_weights;
    const std::int64_t h = m.hidden;
    const int d = m.head_dim;
    const std::int64_t rows = std::int64_t(m_batch) * T;
    const std::int64_t qw = std::int64_t(m.heads) * d;
    const std::int64_t kw = std::int64_t(m.kv_heads) * d;
    std::vector<float> hx = x;
    norm(m, hx, w.get(ModelWeights::layer(l, "input_norm")).data, bias_of(w, ModelWeights::layer(l, "input_norm.bias")),
         rows, h);
    std::vector<float> q(std::size_t(rows * qw));
    std::vector<float> k(std::size_t(rows * kw));
    std::vector<float> v(std::size_t(rows * kw));
    gemm(hx, w.get(ModelWeights::layer(l, "q")).data, q, rows, h, qw);
    gemm(hx, w.get(ModelWeights::layer(l, "k")).data, k, rows, h, kw);
    gemm(hx, w.get(ModelWeights::layer(l, "v")).data, v, rows, h, kw);
    if (m.qkv_bias) {
        add_bias(q, w.get(ModelWeights::layer(l, "q.bias")).data, rows, qw);
        add_bias(k, w.get(ModelWeights::layer(l, "k.bias")).data, rows, kw);
        add_bias(v, w.get(ModelWeights::layer(l, "v.bias")).data, rows, kw);
    }
    if (m.qk_norm) {
        rms_norm(q, w.get(ModelWeights::layer(l, "q_norm")).data, rows * m.heads, d);
        rms_norm(k, w.get(ModelWeights::layer(l, "k_norm")).data, rows * m.kv_heads, d);
    }
    std::vector<std::int64_t> positions(static_cast<std::size_t>(T));
    std::iota(positions.begin(), positions.end(), position);
    std::vector<float> attn(std::size_t(rows * qw));
    for (int b = 0; b < m_batch; ++b) {
        float* qb = q.data() + std::int64_t(b) * T * qw;
        float* kb = k.data() + std::int64_t(b) * T * kw;
        if (m.position == PositionKind::Rotary) {
            rotary({qb, std::size_t(T * qw)}, T, m.heads, d, positions);
            rotary({kb, std::size_t(T * kw)}, T, m.kv_heads, d, positions);
        }
        float* kc = m_keys[l].data() + std::int64_t(b) * m_maxContext * kw;
        float* vc = m_values[l].data() + std::int64_t(b) * m_maxContext * kw;
        std::copy(kb, kb + T * kw, kc + position * kw);
        std::copy(v.data() + std::int64_t(b) * T * kw, v.data() + (std::int64_t(b) + 1) * T * kw, vc + position * kw);
        attention({qb, std::size_t(T * qw)}, {kc, std::size_t(m_maxContext * kw)}, {vc, std::size_t(m_maxContext * kw)},
                  {attn.data() + std::int64_t(b) * T * qw, std::size_t(T * qw)}, T, positions, m.heads, m.kv_heads, d);
    }
    std::vector<float> out(std::size_t(rows * h));
    gemm(attn, w.get(ModelWeights::layer(l, "o")).data, out, rows, qw, h);
    if (m.out_bias)
        add_bias(out, w.get(ModelWeights::layer(l, "o.bias")).data, rows, h);
    add(x, out);
}

void ReferenceModel::mlp_block(int l, std::vector<float>& x, std::int64_t rows)
{
    const auto& w = m_weights;
    const std::int64_t h = m_model.hidden;
    std::vector<float> hx = x;
    norm(m_model, hx, w.get(ModelWeights::layer(l, "post_attention_norm")).data,
         bias_of(w, ModelWeights::layer(l, "post_attention_norm.bias")), rows, h);
    const std::string p = ModelWeights::layer(l, "mlp");
    std::vector<float> out(std::size_t(rows * h));
    expert_mlp(m_model, optional(w, p + ".gate"), w.get(p + ".up"), w.get(p + ".down"), optional(w, p + ".gate.bias"),
               optional(w, p + ".up.bias"), optional(w, p + ".down.bias"), hx, out, rows);
    add(x, out);
}

void ReferenceModel::moe_block(int l, std::vector<float>& x, std::int64_t rows)
{
    const auto& w = m_weights;
    const MoeSpec& e = *m_model.moe;
    const std::int64_t h = m_model.hidden;
    std::vector<float> hx = x;
    norm(m_model, hx, w.get(ModelWeights::layer(l, "post_attention_norm")).data,
         bias_of(w, ModelWeights::layer(l, "post_attention_norm.bias")), rows, h);
    std::vector<float> logits(std::size_t(rows * e.experts));
    gemm(hx, w.get(ModelWeights::layer(l, "router")).data, logits, rows, h, e.experts);
    const Routing routing = route_tokens(logits, rows, e.experts, e.experts_per_token);
    std::vector<float> y(std::size_t(rows * h), 0.0f);
    std::vector<float> out(static_cast<std::size_t>(h));
    for (std::int64_t r = 0; r < rows; ++r) {
        for (int j = 0; j < e.experts_per_token; ++j) {
            const std::string p =
                ModelWeights::layer(l, "experts." + std::to_string(routing.experts[r * e.experts_per_token + j]));
            expert_mlp(m_model, optional(w, p + ".gate"), w.get(p + ".up"), w.get(p + ".down"),
                       optional(w, p + ".gate.bias"), optional(w, p + ".up.bias"), optional(w, p + ".down.bias"),
                       {hx.data() + r * h, std::size_t(h)}, out, 1);
            const float weight = routing.weights[r * e.experts_per_token + j];
            for (std::int64_t c = 0; c < h; ++c)
                y[r * h + c] += weight * out[c];
        }
    }
    if (e.shared_experts > 0) {
        const std::string p = ModelWeights::layer(l, "shared");
        std::vector<float> shared(std::size_t(rows * h));
        expert_mlp(m_model, optional(w, p + ".gate"), w.get(p + ".up"), w.get(p + ".down"),
                   optional(w, p + ".gate.bias"), optional(w, p + ".up.bias"), optional(w, p + ".down.bias"), hx,
                   shared, rows);
        if (e.shared_expert_gate) {
            std::vector<float> g(static_cast<std::size_t>(rows));
            gemm(hx, w.get(ModelWeights::layer(l, "shared_gate")).data, g, rows, h, 1);
            for (std::int64_t r = 0; r < rows; ++r) {
                const float s = 1.0f / (1.0f + std::exp(-g[r]));
                for (std::int64_t c = 0; c < h; ++c)
                    shared[r * h + c] *= s;
            }
        }
        add(y, shared);
    }
    add(x, y);
}

} // namespace shard::cpu
