#include "model_json.h"

namespace shard {

OrderedJson model_to_json(const ModelSpec& m)
{
    OrderedJson j;
    j["id"] = m.id;
    j["name"] = m.name;
    j["family"] = m.family;
    j["layers"] = m.layers;
    j["hidden"] = m.hidden;
    j["heads"] = m.heads;
    j["kv_heads"] = m.kv_heads;
    j["head_dim"] = m.head_dim;
    j["ffn"] = m.ffn;
    j["mlp"] = m.gated_mlp ? "gated" : "plain";
    j["activation"] = to_string(m.activation);
    j["bias"] = {{"qkv", m.qkv_bias}, {"out", m.out_bias}, {"mlp", m.mlp_bias}};
    j["qk_norm"] = m.qk_norm;
    j["norm"] = to_string(m.norm);
    j["norms_per_layer"] = m.norms_per_layer;
    j["position"] = to_string(m.position);
    j["vocab"] = m.vocab;
    j["tied_embeddings"] = m.tied_embeddings;
    j["max_context"] = m.max_context;
    j["dtype"] = to_string(m.dtype);
    if (m.moe) {
        const MoeSpec& e = *m.moe;
        j["moe"] = {{"experts", e.experts},
                    {"experts_per_token", e.experts_per_token},
                    {"expert_ffn", e.expert_ffn},
                    {"shared_experts", e.shared_experts},
                    {"shared_expert_ffn", e.shared_expert_ffn},
                    {"shared_expert_gate", e.shared_expert_gate},
                    {"router_bias", e.router_bias},
                    {"first_dense_layers", e.first_dense_layers},
                    {"layer_freq", e.layer_freq}};
    }
    if (m.mla) {
        const MlaSpec& a = *m.mla;
        j["mla"] = {{"q_lora_rank", a.q_lora_rank},
                    {"kv_lora_rank", a.kv_lora_rank},
                    {"qk_rope_head_dim", a.qk_rope_head_dim},
                    {"qk_nope_head_dim", a.qk_nope_head_dim},
                    {"v_head_dim", a.v_head_dim}};
    }
    return j;
}

namespace {

template<typename Parse> auto parse_enum(const JsonReader& r, const char* key, const std::string& fallback, Parse parse)
{
    const std::string text = r.string_or(key, fallback);
    try {
        return parse(text);
    } catch (const Error& e) {
        r.fail(key, std::string("is invalid: ") + e.what());
    }
}

} // namespace

ModelSpec model_from_json(const Json& json, const std::string& context)
{
    const JsonReader r(json, context);
    ModelSpec m;
    m.id = r.string_or("id", "");
    m.name = r.string_or("name", m.id);
    m.family = r.string_or("family", "custom");
    m.layers = r.count("layers", limits::kLayers);
    m.hidden = r.integer("hidden", limits::kHidden);
    m.heads = r.count("heads", limits::kHeads);
    m.kv_heads = r.count_or("kv_heads", m.heads, limits::kHeads);
    m.head_dim = r.count_or("head_dim", m.hidden / m.heads, limits::kHeadDim);
    m.ffn = r.integer("ffn", limits::kFfn);
    const std::string mlp = r.string_or("mlp", "gated");
    if (mlp != "gated" && mlp != "plain")
        r.fail("mlp", "must be \"gated\" or \"plain\", got \"" + mlp + "\"");
    m.gated_mlp = mlp == "gated";
    m.activation = parse_enum(r, "activation", "silu", parse_activation);
    if (r.has("bias")) {
        const JsonReader bias(r.object("bias"), context + ".bias");
        m.qkv_bias = bias.bool_or("qkv", false);
        m.out_bias = bias.bool_or("out", false);
        m.mlp_bias = bias.bool_or("mlp", false);
    }
    m.qk_norm = r.bool_or("qk_norm", false);
    m.norm = parse_enum(r, "norm", "rmsnorm", parse_norm_kind);
    m.norms_per_layer = r.count_or("norms_per_layer", 2, limits::kNormsPerLayer);
    m.position = parse_enum(r, "position", "rotary", parse_position_kind);
    m.vocab = r.integer("vocab", limits::kVocab);
    m.tied_embeddings = r.bool_or("tied_embeddings", false);
    m.max_context = r.integer("max_context", limits::kContext);
    m.dtype = parse_enum(r, "dtype", "bf16", parse_dtype);
    if (r.has("moe")) {
        const JsonReader e(r.object("moe"), context + ".moe");
        MoeSpec moe;
        moe.experts = e.count("experts", limits::kExperts);
        moe.experts_per_token = e.count("experts_per_token", limits::kExperts);
        moe.expert_ffn = e.integer("expert_ffn", limits::kFfn);
        moe.shared_experts = e.count_or("shared_experts", 0, limits::kSharedExperts);
        moe.shared_expert_ffn = e.integer_or("shared_expert_ffn", 0, {0, limits::kFfn.max});
        moe.shared_expert_gate = e.bool_or("shared_expert_gate", false);
        moe.router_bias = e.bool_or("router_bias", false);
        moe.first_dense_layers = e.count_or("first_dense_layers", 0, limits::kLayerIndex);
        moe.layer_freq = e.count_or("layer_freq", 1, limits::kLayers);
        m.moe = moe;
    }
    if (r.has("mla")) {
        const JsonReader a(r.object("mla"), context + ".mla");
        MlaSpec mla;
        mla.q_lora_rank = a.count_or("q_lora_rank", 0, limits::kLoraRank);
        mla.kv_lora_rank = a.count("kv_lora_rank", {1, limits::kLoraRank.max});
        mla.qk_rope_head_dim = a.count("qk_rope_head_dim", limits::kHeadDim);
        mla.qk_nope_head_dim = a.count("qk_nope_head_dim", limits::kHeadDim);
        mla.v_head_dim = a.count("v_head_dim", limits::kHeadDim);
        m.mla = mla;
    }
    try {
        m.validate();
    } catch (const Error& e) {
        throw Error(context + ": " + e.what());
    }
    return m;
}

} // namespace shard
