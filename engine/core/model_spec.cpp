#include "model_spec.h"

#include "checked_number.h"
#include "error.h"

namespace shard {

bool ModelSpec::is_moe_layer(int layer) const
{
    if (!is_moe() || layer < moe->first_dense_layers)
        return false;
    return (layer - moe->first_dense_layers) % moe->layer_freq == 0;
}

int ModelSpec::moe_layer_count() const
{
    int count = 0;
    for (int i = 0; i < layers; ++i)
        count += is_moe_layer(i) ? 1 : 0;
    return count;
}

std::int64_t ModelSpec::q_width() const
{
    if (mla)
        return std::int64_t(heads) * (mla->qk_nope_head_dim + mla->qk_rope_head_dim);
    return std::int64_t(heads) * head_dim;
}

std::int64_t ModelSpec::kv_width() const
{
    return std::int64_t(kv_heads) * head_dim;
}

std::int64_t ModelSpec::norm_params() const
{
    return norm == NormKind::LayerNorm ? 2 * hidden : hidden;
}

std::int64_t ModelSpec::embedding_params() const
{
    std::int64_t params = vocab * hidden;
    if (position == PositionKind::Learned)
        params += max_context * hidden;
    return params;
}

std::int64_t ModelSpec::lm_head_params() const
{
    return tied_embeddings ? 0 : vocab * hidden;
}

std::int64_t ModelSpec::attention_params() const
{
    const std::int64_t h = hidden;
    if (mla) {
        const std::int64_t qk_head = mla->qk_nope_head_dim + mla->qk_rope_head_dim;
        std::int64_t params = 0;
        if (mla->q_lora_rank > 0) // q_a_proj, q_a_layernorm, q_b_proj
            params += h * mla->q_lora_rank + mla->q_lora_rank + std::int64_t(mla->q_lora_rank) * heads * qk_head;
        else
            params += h * heads * qk_head;
        params += h * (mla->kv_lora_rank + mla->qk_rope_head_dim); // kv_a_proj_with_mqa
        params += mla->kv_lora_rank; // kv_a_layernorm
        params += std::int64_t(mla->kv_lora_rank) * heads * (mla->qk_nope_head_dim + mla->v_head_dim);
        params += std::int64_t(heads) * mla->v_head_dim * h; // o_proj
        return params;
    }
    const std::int64_t qkv_out = q_width() + 2 * kv_width();
    std::int64_t params = h * qkv_out + q_width() * h;
    if (qkv_bias)
        params += qkv_out;
    if (out_bias)
        params += h;
    if (qk_norm)
        params += 2 * std::int64_t(head_dim);
    return params;
}

namespace {

std::int64_t mlp_params(std::int64_t hidden, std::int64_t width, bool gated, bool bias)
{
    const std::int64_t matrices = gated ? 3 : 2;
    std::int64_t params = matrices * hidden * width;
    if (bias)
        params += (gated ? 2 * width : width) + hidden;
    return params;
}

} // namespace

std::int64_t ModelSpec::dense_mlp_params() const
{
    return mlp_params(hidden, ffn, gated_mlp, mlp_bias);
}

std::int64_t ModelSpec::expert_params() const
{
    return is_moe() ? mlp_params(hidden, moe->expert_ffn, gated_mlp, mlp_bias) : 0;
}

std::int64_t ModelSpec::moe_mlp_params(bool active_only) const
{
    if (!is_moe())
        return 0;
    const std::int64_t routed = active_only ? moe->experts_per_token : moe->experts;
    std::int64_t params = checked_mul(routed, expert_params(), "the parameters of one MoE layer");
    params += std::int64_t(moe->shared_experts) * mlp_params(hidden, moe->shared_expert_ffn, gated_mlp, mlp_bias);
    params += std::int64_t(moe->experts) * hidden; // router
    if (moe->router_bias)
        params += moe->experts;
    if (moe->shared_expert_gate)
        params += hidden;
    return params;
}

std::int64_t ModelSpec::layer_params(int layer, bool active_only) const
{
    const std::int64_t mlp = is_moe_layer(layer) ? moe_mlp_params(active_only) : dense_mlp_params();
    return attention_params() + mlp + norms_per_layer * norm_params();
}

std::int64_t ModelSpec::total_params() const
{
    std::int64_t params = embedding_params() + lm_head_params() + norm_params();
    for (int i = 0; i < layers; ++i)
        params = checked_add(params, layer_params(i, false), "the model's parameter count");
    return params;
}

std::int64_t ModelSpec::active_params() const
{
    std::int64_t params = embedding_params() + lm_head_params() + norm_params();
    for (int i = 0; i < layers; ++i)
        params += layer_params(i, true);
    return params;
}

std::int64_t ModelSpec::kv_cache_bytes_per_token(int element_bytes) const
{
    if (mla) // compressed latent + decoupled rotary key, shared by all heads
        return std::int64_t(layers) * (mla->kv_lora_rank + mla->qk_rope_head_dim) * element_bytes;
    return std::int64_t(layers) * 2 * kv_width() * element_bytes;
}

void ModelSpec::validate() const
{
    const std::string where = "model '" + (id.empty() ? name : id) + "'";
    auto in = [&](std::int64_t value, IntRange range, const char* field) {
        checked_in(value, range, where + ": '" + field + "'");
    };
    in(layers, limits::kLayers, "layers");
    in(hidden, limits::kHidden, "hidden");
    in(heads, limits::kHeads, "heads");
    in(kv_heads, limits::kHeads, "kv_heads");
    in(head_dim, limits::kHeadDim, "head_dim");
    in(ffn, limits::kFfn, "ffn");
    in(vocab, limits::kVocab, "vocab");
    in(max_context, limits::kContext, "max_context");
    in(norms_per_layer, limits::kNormsPerLayer, "norms_per_layer");
    if (heads % kv_heads != 0)
        throw Error(where + ": heads (" + std::to_string(heads) + ") must be a multiple of kv_heads ("
                    + std::to_string(kv_heads) + ")");
    if (moe) {
        in(moe->experts, limits::kExperts, "moe.experts");
        in(moe->experts_per_token, limits::kExperts, "moe.experts_per_token");
        in(moe->expert_ffn, limits::kFfn, "moe.expert_ffn");
        in(moe->layer_freq, limits::kLayers, "moe.layer_freq");
        in(moe->shared_experts, limits::kSharedExperts, "moe.shared_experts");
        in(moe->shared_expert_ffn, {moe->shared_experts > 0 ? 1 : 0, limits::kFfn.max}, "moe.shared_expert_ffn");
        if (moe->experts_per_token > moe->experts)
            throw Error(where + ": moe.experts_per_token (" + std::to_string(moe->experts_per_token)
                        + ") exceeds moe.experts (" + std::to_string(moe->experts) + ")");
        if (moe->first_dense_layers < 0 || moe->first_dense_layers > layers)
            throw Error(where + ": moe.first_dense_layers must lie in [0, layers]");
    }
    if (mla) {
        in(mla->q_lora_rank, limits::kLoraRank, "mla.q_lora_rank");
        in(mla->kv_lora_rank, {1, limits::kLoraRank.max}, "mla.kv_lora_rank");
        in(mla->qk_rope_head_dim, limits::kHeadDim, "mla.qk_rope_head_dim");
        in(mla->qk_nope_head_dim, limits::kHeadDim, "mla.qk_nope_head_dim");
        in(mla->v_head_dim, limits::kHeadDim, "mla.v_head_dim");
    }
    // Inside these ranges each layer's count fits 64 bits; their sum is checked, and a
    // bound on it keeps every byte count derived from it (x bytes, x copies) in range too.
    const std::int64_t params = total_params();
    if (params > limits::kMaxParameters)
        throw Error(where + ": " + std::to_string(params) + " parameters is more than the "
                    + std::to_string(limits::kMaxParameters) + " this tool plans for (check the sizes)");
}

std::string to_string(NormKind kind)
{
    return kind == NormKind::LayerNorm ? "layernorm" : "rmsnorm";
}

std::string to_string(PositionKind kind)
{
    return kind == PositionKind::Learned ? "learned" : "rotary";
}

std::string to_string(Activation activation)
{
    switch (activation) {
    case Activation::SiLU:
        return "silu";
    case Activation::GELU:
        return "gelu";
    case Activation::GELUTanh:
        return "gelu_tanh";
    case Activation::ReLU:
        return "relu";
    }
    return "silu";
}

NormKind parse_norm_kind(const std::string& text)
{
    if (text == "rmsnorm")
        return NormKind::RMSNorm;
    if (text == "layernorm")
        return NormKind::LayerNorm;
    throw Error("unknown norm '" + text + "' (expected rmsnorm or layernorm)");
}

PositionKind parse_position_kind(const std::string& text)
{
    if (text == "rotary")
        return PositionKind::Rotary;
    if (text == "learned")
        return PositionKind::Learned;
    throw Error("unknown position embedding '" + text + "' (expected rotary or learned)");
}

Activation parse_activation(const std::string& text)
{
    if (text == "silu" || text == "swish")
        return Activation::SiLU;
    if (text == "gelu")
        return Activation::GELU;
    if (text == "gelu_tanh" || text == "gelu_new" || text == "gelu_pytorch_tanh" || text == "gelu_fast")
        return Activation::GELUTanh;
    if (text == "relu")
        return Activation::ReLU;
    throw Error("unknown activation '" + text + "' (expected silu, gelu, gelu_tanh or relu)");
}

} // namespace shard
