#pragma once

#include "dtype.h"

#include <cstdint>
#include <optional>
#include <string>

namespace shard {

enum class NormKind { RMSNorm, LayerNorm };
enum class PositionKind { Rotary, Learned };
enum class Activation { SiLU, GELU, GELUTanh, ReLU };

// Mixture of experts. A layer i is an MoE layer when i >= first_dense_layers and
// (i - first_dense_layers) % layer_freq == 0; the other layers use the dense MLP.
struct MoeSpec {
    int experts = 0; // routed experts per MoE layer (E)
    int experts_per_token = 0; // top-k (k)
    std::int64_t expert_ffn = 0; // FFN width of one routed expert
    int shared_experts = 0; // always-on experts per MoE layer
    std::int64_t shared_expert_ffn = 0; // FFN width of one shared expert
    bool shared_expert_gate = false; // Qwen2-MoE: sigmoid gate Linear(h, 1) on the shared expert
    bool router_bias = false; // DeepSeek-V3: e_score_correction_bias (E values)
    int first_dense_layers = 0;
    int layer_freq = 1;

    bool operator==(const MoeSpec&) const = default;
};

// Multi-head latent attention (DeepSeek-V2/V3). The KV cache holds the compressed latent
// (kv_lora_rank) plus the shared rotary key (qk_rope_head_dim) per token and layer.
struct MlaSpec {
    int q_lora_rank = 0; // 0: queries are projected directly from the hidden state
    int kv_lora_rank = 0;
    int qk_rope_head_dim = 0;
    int qk_nope_head_dim = 0;
    int v_head_dim = 0;

    bool operator==(const MlaSpec&) const = default;
};

// A decoder-only transformer, dense or MoE. Linear layers are Y[M,N] = X[M,K] W[K,N].
struct ModelSpec {
    std::string id; // preset id, lowercase with dashes ("llama-2-7b")
    std::string name; // display name ("Llama-2-7B")
    std::string family; // Hugging Face model_type it came from ("llama", "gpt2"...)

    int layers = 0;
    std::int64_t hidden = 0;
    int heads = 0;
    int kv_heads = 0;
    int head_dim = 0; // explicit; equals hidden / heads unless the family says otherwise
    std::int64_t ffn = 0;
    bool gated_mlp = true; // SwiGLU-style gate/up/down, else up/down
    Activation activation = Activation::SiLU;
    bool qkv_bias = false;
    bool out_bias = false;
    bool mlp_bias = false;
    bool qk_norm = false; // per-head RMSNorm on q and k (Qwen3)
    int norms_per_layer = 2; // Gemma-2 has 4 (pre and post norms around attention and MLP)
    NormKind norm = NormKind::RMSNorm;
    PositionKind position = PositionKind::Rotary;
    std::int64_t vocab = 0;
    bool tied_embeddings = false;
    std::int64_t max_context = 0;
    DType dtype = DType::BF16;
    std::optional<MoeSpec> moe;
    std::optional<MlaSpec> mla;

    bool operator==(const ModelSpec&) const = default;

    bool is_moe() const { return moe.has_value() && moe->experts > 0; }
    bool is_moe_layer(int layer) const;
    int moe_layer_count() const;
    // Width of Q (and of the attention output before the out-projection).
    std::int64_t q_width() const;
    std::int64_t kv_width() const; // width of K (= V) for standard attention

    // Parameter counts, exact (they match the published figures of each family).
    std::int64_t embedding_params() const; // token (+ learned position) embeddings
    std::int64_t lm_head_params() const; // 0 when tied to the embedding
    std::int64_t norm_params() const; // one norm of width hidden
    std::int64_t attention_params() const; // per layer, including qk norms
    std::int64_t dense_mlp_params() const; // per dense layer
    std::int64_t expert_params() const; // one routed expert
    std::int64_t moe_mlp_params(bool active_only) const; // per MoE layer (router, experts, shared)
    std::int64_t layer_params(int layer, bool active_only = false) const;
    std::int64_t total_params() const;
    std::int64_t active_params() const; // per token: only k routed experts count

    // KV cache bytes for one token over all layers at the given element size.
    std::int64_t kv_cache_bytes_per_token(int element_bytes) const;
    std::int64_t kv_cache_bytes_per_token() const { return kv_cache_bytes_per_token(bytes_per_element(dtype)); }

    // Throws Error naming the first inconsistent field.
    void validate() const;
};

std::string to_string(NormKind kind);
std::string to_string(PositionKind kind);
std::string to_string(Activation activation);
NormKind parse_norm_kind(const std::string& text);
PositionKind parse_position_kind(const std::string& text);
Activation parse_activation(const std::string& text);

} // namespace shard
