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

int as_int(std::int64_t value, const JsonReader& r, const char* key)
{
    if (value > 0x7fffffff)
        r.fail(key, "is too large: " + std::to_string(value));
    return static_cast<int>(value);
}

} // namespace

ModelSpec model_from_json(const Json& json, const std::string& context)
{
    const JsonReader r(json, context);
    ModelSpec m;
    m.id = r.string_or("id", "");
    m.name = r.string_or("name", m.id);
    m.family = r.string_or("family", "custom");
    m.layers = as_int(r.positive_int("layers"), r, "layers");
    m.hidden = r.positive_int("hidden");
    m.heads = as_int(r.positive_int("heads"), r, "heads");
    m.kv_heads = as_int(r.int_or("kv_heads", m.heads), r, "kv_heads");
    m.head_dim = as_int(r.int_or("head_dim", m.hidden / m.heads), r, "head_dim");
    m.ffn = r.positive_int("ffn");
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
    m.norms_per_layer = as_int(r.int_or("norms_per_layer", 2), r, "norms_per_layer");
    m.position = parse_enum(r, "position", "rotary", parse_position_kind);
    m.vocab = r.positive_int("vocab");
    m.tied_embeddings = r.bool_or("tied_embeddings", false);
    m.max_context = r.positive_int("max_context");
    m.dtype = parse_enum(r, "dtype", "bf16", parse_dtype);
    if (r.has("moe")) {
        const JsonReader e(r.object("moe"), context + ".moe");
        MoeSpec moe;
        moe.experts = as_int(e.positive_int("experts"), e, "experts");
        moe.experts_per_token = as_int(e.positive_int("experts_per_token"), e, "experts_per_token");
        moe.expert_ffn = e.positive_int("expert_ffn");
        moe.shared_experts = as_int(e.int_or("shared_experts", 0), e, "shared_experts");
        moe.shared_expert_ffn = e.int_or("shared_expert_ffn", 0);
        moe.shared_expert_gate = e.bool_or("shared_expert_gate", false);
        moe.router_bias = e.bool_or("router_bias", false);
        moe.first_dense_layers = as_int(e.int_or("first_dense_layers", 0), e, "first_dense_layers");
        moe.layer_freq = as_int(e.int_or("layer_freq", 1), e, "layer_freq");
        m.moe = moe;
    }
    if (r.has("mla")) {
        const JsonReader a(r.object("mla"), context + ".mla");
        MlaSpec mla;
        mla.q_lora_rank = as_int(a.int_or("q_lora_rank", 0), a, "q_lora_rank");
        mla.kv_lora_rank = as_int(a.positive_int("kv_lora_rank"), a, "kv_lora_rank");
        mla.qk_rope_head_dim = as_int(a.positive_int("qk_rope_head_dim"), a, "qk_rope_head_dim");
        mla.qk_nope_head_dim = as_int(a.positive_int("qk_nope_head_dim"), a, "qk_nope_head_dim");
        mla.v_head_dim = as_int(a.positive_int("v_head_dim"), a, "v_head_dim");
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
