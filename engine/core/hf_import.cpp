#include "hf_import.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <map>

namespace shard {

namespace {

DType config_dtype(const JsonReader& r)
{
    // Newer transformers write "dtype", older ones "torch_dtype".
    const char* key = r.has("dtype") ? "dtype" : "torch_dtype";
    if (!r.has(key))
        return DType::BF16;
    try {
        return parse_dtype(r.string(key));
    } catch (const Error& e) {
        r.fail(key, e.what());
    }
}

Activation config_activation(const JsonReader& r, const char* key, const char* fallback)
{
    try {
        return parse_activation(r.string_or(key, fallback));
    } catch (const Error& e) {
        r.fail(key, e.what());
    }
}

// Fields shared by the Llama lineage (llama, mistral, mixtral, qwen2, qwen3, gemma2...).
ModelSpec llama_like(const JsonReader& r)
{
    ModelSpec m;
    m.layers = r.count("num_hidden_layers", limits::kLayers);
    m.hidden = r.integer("hidden_size", limits::kHidden);
    m.heads = r.count("num_attention_heads", limits::kHeads);
    m.kv_heads = r.count_or("num_key_value_heads", m.heads, limits::kHeads);
    if (!r.has("head_dim") && m.hidden % m.heads != 0)
        r.fail("num_attention_heads", "does not divide hidden_size and no head_dim is given");
    m.head_dim = r.count_or("head_dim", m.hidden / m.heads, limits::kHeadDim);
    m.ffn = r.integer("intermediate_size", limits::kFfn);
    m.vocab = r.integer("vocab_size", limits::kVocab);
    m.max_context = r.integer_or("max_position_embeddings", 4096, limits::kContext);
    m.tied_embeddings = r.bool_or("tie_word_embeddings", false);
    m.activation = config_activation(r, "hidden_act", "silu");
    m.qkv_bias = r.bool_or("attention_bias", false);
    m.out_bias = m.qkv_bias;
    m.mlp_bias = r.bool_or("mlp_bias", false);
    m.dtype = config_dtype(r);
    return m;
}

ModelSpec import_qwen2(const JsonReader& r)
{
    ModelSpec m = llama_like(r);
    m.qkv_bias = true; // Qwen2 has biases on q, k, v but not on o_proj
    m.out_bias = false;
    return m;
}

ModelSpec import_qwen3(const JsonReader& r)
{
    ModelSpec m = llama_like(r);
    m.qk_norm = true;
    return m;
}

ModelSpec import_mixtral(const JsonReader& r)
{
    ModelSpec m = llama_like(r);
    MoeSpec moe;
    moe.experts = r.count("num_local_experts", limits::kExperts);
    moe.experts_per_token = r.count("num_experts_per_tok", limits::kExperts);
    moe.expert_ffn = m.ffn;
    m.moe = moe;
    return m;
}

// Qwen MoE marks layer i sparse when (i + 1) % decoder_sparse_step == 0 and i is not in
// mlp_only_layers. ModelSpec has a leading dense block and a frequency, which covers the
// published checkpoints (step 1, mlp_only_layers empty or a leading range); anything else
// is refused by name rather than silently approximated.
int qwen_leading_dense_layers(const JsonReader& r)
{
    const auto step = r.integer_or("decoder_sparse_step", 1, limits::kLayers);
    if (step != 1)
        r.fail("decoder_sparse_step", "other than 1 is not supported, got " + std::to_string(step));
    std::vector<int> layers = r.int_list("mlp_only_layers", limits::kLayerIndex);
    std::sort(layers.begin(), layers.end());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        if (layers[i] != int(i))
            r.fail("mlp_only_layers", "is supported only as a leading range 0..n-1");
    }
    return static_cast<int>(layers.size());
}

ModelSpec import_qwen_moe(const JsonReader& r, bool shared_expert)
{
    ModelSpec m = shared_expert ? import_qwen2(r) : import_qwen3(r);
    MoeSpec moe;
    moe.experts = r.count("num_experts", limits::kExperts);
    moe.experts_per_token = r.count("num_experts_per_tok", limits::kExperts);
    moe.expert_ffn = r.integer("moe_intermediate_size", limits::kFfn);
    if (shared_expert) {
        moe.shared_experts = 1;
        moe.shared_expert_ffn = r.integer("shared_expert_intermediate_size", limits::kFfn);
        moe.shared_expert_gate = true;
    }
    moe.first_dense_layers = qwen_leading_dense_layers(r);
    m.moe = moe;
    return m;
}

ModelSpec import_deepseek(const JsonReader& r)
{
    ModelSpec m = llama_like(r);
    MlaSpec mla;
    mla.q_lora_rank = r.count_or("q_lora_rank", 0, limits::kLoraRank); // null in V2-Lite
    mla.kv_lora_rank = r.count("kv_lora_rank", {1, limits::kLoraRank.max});
    mla.qk_rope_head_dim = r.count("qk_rope_head_dim", limits::kHeadDim);
    mla.qk_nope_head_dim = r.count("qk_nope_head_dim", limits::kHeadDim);
    mla.v_head_dim = r.count("v_head_dim", limits::kHeadDim);
    m.mla = mla;
    m.head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
    MoeSpec moe;
    moe.experts = r.count("n_routed_experts", limits::kExperts);
    moe.experts_per_token = r.count("num_experts_per_tok", limits::kExperts);
    moe.expert_ffn = r.integer("moe_intermediate_size", limits::kFfn);
    moe.shared_experts = r.count_or("n_shared_experts", 0, limits::kSharedExperts);
    moe.shared_expert_ffn = moe.shared_experts > 0 ? moe.expert_ffn : 0;
    moe.first_dense_layers = r.count_or("first_k_dense_replace", 0, limits::kLayerIndex);
    moe.layer_freq = r.count_or("moe_layer_freq", 1, limits::kLayers);
    moe.router_bias = r.string_or("topk_method", "") == "noaux_tc";
    m.moe = moe;
    return m;
}

ModelSpec import_gemma2(const JsonReader& r)
{
    ModelSpec m = llama_like(r);
    m.activation = config_activation(r, "hidden_activation", "gelu_pytorch_tanh");
    m.tied_embeddings = r.bool_or("tie_word_embeddings", true);
    m.norms_per_layer = 4; // input, post-attention, pre-feedforward, post-feedforward
    return m;
}

ModelSpec import_gpt2(const JsonReader& r)
{
    ModelSpec m;
    m.layers = r.count("n_layer", limits::kLayers);
    m.hidden = r.integer("n_embd", limits::kHidden);
    m.heads = r.count("n_head", limits::kHeads);
    if (m.hidden % m.heads != 0)
        r.fail("n_head", "does not divide n_embd");
    m.kv_heads = m.heads;
    m.head_dim = static_cast<int>(m.hidden / m.heads);
    m.ffn = r.integer_or("n_inner", 4 * m.hidden, limits::kFfn); // null means 4 * n_embd
    m.gated_mlp = false;
    m.activation = config_activation(r, "activation_function", "gelu_new");
    m.qkv_bias = m.out_bias = m.mlp_bias = true;
    m.norm = NormKind::LayerNorm;
    m.position = PositionKind::Learned;
    m.vocab = r.integer("vocab_size", limits::kVocab);
    m.max_context = r.integer_or("n_positions", 1024, limits::kContext);
    m.tied_embeddings = r.bool_or("tie_word_embeddings", true);
    m.dtype = config_dtype(r);
    if (!r.has("dtype") && !r.has("torch_dtype"))
        m.dtype = DType::FP32; // GPT-2 checkpoints are fp32
    return m;
}

using Importer = std::function<ModelSpec(const JsonReader&)>;

const std::map<std::string, Importer>& importers()
{
    static const std::map<std::string, Importer> table = {
        {"llama", llama_like},
        {"mistral", llama_like},
        {"mixtral", import_mixtral},
        {"qwen2", import_qwen2},
        {"qwen2_moe", [](const JsonReader& r) { return import_qwen_moe(r, true); }},
        {"qwen3", import_qwen3},
        {"qwen3_moe", [](const JsonReader& r) { return import_qwen_moe(r, false); }},
        {"deepseek_v2", import_deepseek},
        {"deepseek_v3", import_deepseek},
        {"gemma2", import_gemma2},
        {"gpt2", import_gpt2},
    };
    return table;
}

std::string display_name(const Json& config, const std::string& source, const std::string& type)
{
    if (const auto it = config.find("_name_or_path");
        it != config.end() && it->is_string() && !it->get<std::string>().empty()) {
        std::string name = it->get<std::string>();
        if (const auto slash = name.find_last_of('/'); slash != std::string::npos)
            name = name.substr(slash + 1);
        return name;
    }
    // ".../Llama-2-7b-hf/config.json" is named by its folder, "qwen3-8b.json" by its stem.
    const std::filesystem::path path(source);
    const std::string stem = path.stem().string();
    if (stem != "config" && !stem.empty())
        return stem;
    const std::string folder = path.parent_path().filename().string();
    if (!folder.empty() && folder != ".")
        return folder;
    return type + " (imported)";
}

std::string to_id(const std::string& name)
{
    std::string id;
    for (const char c : name) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '.')
            id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else if (!id.empty() && id.back() != '-')
            id += '-';
    }
    while (!id.empty() && id.back() == '-')
        id.pop_back();
    return id;
}

} // namespace

std::vector<std::string> supported_hf_model_types()
{
    std::vector<std::string> types;
    for (const auto& [type, importer] : importers())
        types.push_back(type);
    return types;
}

bool looks_like_hf_config(const Json& json)
{
    return json.is_object() && (json.contains("model_type") || json.contains("architectures"));
}

ModelSpec import_hf_config(const Json& config, const std::string& source)
{
    const JsonReader r(config, source);
    if (!r.has("model_type"))
        throw Error(source + ": missing required field 'model_type' (is this a Hugging Face config.json?)");
    const std::string type = r.string("model_type");
    const auto it = importers().find(type);
    if (it == importers().end()) {
        std::string list;
        for (const auto& name : supported_hf_model_types())
            list += (list.empty() ? "" : ", ") + name;
        throw Error(source + ": unsupported model_type '" + type + "'; supported: " + list);
    }
    ModelSpec m = it->second(r);
    m.family = type;
    m.name = display_name(config, source, type);
    m.id = to_id(m.name);
    try {
        m.validate();
    } catch (const Error& e) {
        throw Error(source + ": " + e.what());
    }
    return m;
}

ModelSpec import_hf_config_text(const std::string& text, const std::string& source)
{
    return import_hf_config(parse_json_text(text, source), source);
}

ModelSpec import_hf_config_file(const std::string& path)
{
    return import_hf_config(read_json_file(path), path);
}

} // namespace shard
