#include "model_weights.h"

#include "core/error.h"
#include "core/units.h"

#include <cmath>

namespace shard::run {

namespace {

// Deterministic pseudo-random weights: the same name and seed give the same values on
// every rank and every run.
std::uint64_t splitmix(std::uint64_t& state)
{
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fill_uniform(std::span<float> x, std::uint64_t seed, float scale)
{
    std::uint64_t state = seed;
    for (auto& v : x)
        v = scale * (float(double(splitmix(state) >> 11) * 0x1.0p-53) * 2.0f - 1.0f);
}

void fill_norm_weight(std::span<float> x, std::uint64_t seed)
{
    fill_uniform(x, seed, 0.1f);
    for (auto& v : x)
        v += 1.0f;
}

// FNV-1a: a name hash that is the same on every platform and standard library.
std::uint64_t name_hash(const std::string& name)
{
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (const unsigned char c : name) {
        hash ^= c;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

} // namespace

Matrix Matrix::slice_cols(std::int64_t begin, std::int64_t end) const
{
    if (data.empty())
        return {};
    Matrix out{rows, end - begin, {}};
    out.data.resize(std::size_t(out.rows * out.cols));
    for (std::int64_t r = 0; r < rows; ++r)
        std::copy(data.begin() + r * cols + begin, data.begin() + r * cols + end, out.data.begin() + r * out.cols);
    return out;
}

Matrix Matrix::slice_rows(std::int64_t begin, std::int64_t end) const
{
    if (data.empty())
        return {};
    Matrix out{end - begin, cols, {}};
    out.data.assign(data.begin() + begin * cols, data.begin() + end * cols);
    return out;
}

std::string reference_unsupported_reason(const ModelSpec& m, bool size_limit)
{
    if (m.mla)
        return "multi-head latent attention (MLA) is not implemented in the CPU reference executor";
    if (m.norms_per_layer != 2)
        return "models with " + std::to_string(m.norms_per_layer)
               + " norms per layer are not implemented in the CPU reference executor";
    if (m.position == PositionKind::Rotary && m.head_dim % 2 != 0)
        return "rotary embedding needs an even head dimension";
    if (size_limit && m.total_params() > 400'000'000)
        return "the CPU reference executor runs models up to 400 M parameters (fp32 weights in memory); " + m.name
               + " has " + format_params(m.total_params()) + " (" + format_count(m.total_params()) + ")";
    return {};
}

ModelWeights::ModelWeights(const ModelSpec& model, std::uint64_t seed, bool size_limit)
    : m_model(model)
    , m_seed(seed)
{
    if (const auto why = reference_unsupported_reason(model, size_limit); !why.empty())
        throw Error(why);
    const ModelSpec& m = m_model;
    const std::int64_t h = m.hidden;
    const std::int64_t d = m.head_dim;
    const float embed_scale = 1.0f;
    add("embed", m.vocab, h, embed_scale);
    if (m.position == PositionKind::Learned)
        add("positions", m.max_context, h, 0.1f);
    for (int l = 0; l < m.layers; ++l) {
        add_norm(layer(l, "input_norm"), h);
        add(layer(l, "q"), h, std::int64_t(m.heads) * d, 1.0f / std::sqrt(float(h)));
        add(layer(l, "k"), h, std::int64_t(m.kv_heads) * d, 1.0f / std::sqrt(float(h)));
        add(layer(l, "v"), h, std::int64_t(m.kv_heads) * d, 1.0f / std::sqrt(float(h)));
        if (m.qkv_bias) {
            add(layer(l, "q.bias"), 1, std::int64_t(m.heads) * d, 0.05f);
            add(layer(l, "k.bias"), 1, std::int64_t(m.kv_heads) * d, 0.05f);
            add(layer(l, "v.bias"), 1, std::int64_t(m.kv_heads) * d, 0.05f);
        }
        if (m.qk_norm) {
            add_norm(layer(l, "q_norm"), d);
            add_norm(layer(l, "k_norm"), d);
        }
        add(layer(l, "o"), std::int64_t(m.heads) * d, h, 1.0f / std::sqrt(float(m.heads * d)));
        if (m.out_bias)
            add(layer(l, "o.bias"), 1, h, 0.05f);
        add_norm(layer(l, "post_attention_norm"), h);
        if (m.is_moe_layer(l)) {
            const MoeSpec& e = *m.moe;
            add(layer(l, "router"), h, e.experts, 1.0f / std::sqrt(float(h)));
            for (int x = 0; x < e.experts; ++x)
                add_mlp(layer(l, "experts." + std::to_string(x)), e.expert_ffn);
            if (e.shared_experts > 0)
                add_mlp(layer(l, "shared"), e.shared_expert_ffn * e.shared_experts);
            if (e.shared_expert_gate)
                add(layer(l, "shared_gate"), h, 1, 1.0f / std::sqrt(float(h)));
        } else {
            add_mlp(layer(l, "mlp"), m.ffn);
        }
    }
    add_norm("final_norm", h);
    if (!m.tied_embeddings)
        add("lm_head", h, m.vocab, 1.0f / std::sqrt(float(h)));
}

void ModelWeights::add(const std::string& name, std::int64_t rows, std::int64_t cols, float scale)
{
    Matrix w{rows, cols, std::vector<float>(std::size_t(rows * cols))};
    fill_uniform(w.data, m_seed ^ name_hash(name), scale);
    m_tensors[name] = std::move(w);
}

void ModelWeights::add_norm(const std::string& name, std::int64_t width)
{
    Matrix w{1, width, std::vector<float>(std::size_t(width))};
    fill_norm_weight(w.data, m_seed ^ name_hash(name));
    m_tensors[name] = std::move(w);
    if (m_model.norm == NormKind::LayerNorm)
        add(name + ".bias", 1, width, 0.05f);
}

void ModelWeights::add_mlp(const std::string& prefix, std::int64_t width)
{
    const std::int64_t h = m_model.hidden;
    if (m_model.gated_mlp)
        add(prefix + ".gate", h, width, 1.0f / std::sqrt(float(h)));
    add(prefix + ".up", h, width, 1.0f / std::sqrt(float(h)));
    add(prefix + ".down", width, h, 1.0f / std::sqrt(float(width)));
    if (m_model.mlp_bias) {
        if (m_model.gated_mlp)
            add(prefix + ".gate.bias", 1, width, 0.05f);
        add(prefix + ".up.bias", 1, width, 0.05f);
        add(prefix + ".down.bias", 1, h, 0.05f);
    }
}

const Matrix& ModelWeights::get(const std::string& name) const
{
    const auto it = m_tensors.find(name);
    if (it == m_tensors.end())
        throw Error("no weight tensor '" + name + "' in " + m_model.name);
    return it->second;
}

void ModelWeights::assign(const std::string& name, std::vector<float> values)
{
    auto it = m_tensors.find(name);
    if (it == m_tensors.end())
        throw Error("no weight tensor '" + name + "' in " + m_model.name);
    if (values.size() != it->second.data.size())
        throw Error("tensor '" + name + "' needs " + std::to_string(it->second.data.size()) + " values, got "
                    + std::to_string(values.size()));
    it->second.data = std::move(values);
}

std::int64_t ModelWeights::parameter_count() const
{
    std::int64_t total = 0;
    for (const auto& [name, w] : m_tensors)
        total += w.rows * w.cols;
    return total;
}

} // namespace shard::run
