#include "commands.h"

#include "core/model_json.h"
#include "core/presets.h"
#include "core/units.h"

#include <iostream>

namespace shard::cli {

namespace {

OrderedJson parameter_json(const ModelSpec& m)
{
    OrderedJson j;
    j["total"] = m.total_params();
    j["active_per_token"] = m.active_params();
    j["embedding"] = m.embedding_params();
    j["lm_head"] = m.lm_head_params();
    j["attention_per_layer"] = m.attention_params();
    j["dense_mlp_per_layer"] = m.dense_mlp_params();
    if (m.is_moe()) {
        j["moe_mlp_per_layer"] = m.moe_mlp_params(false);
        j["expert"] = m.expert_params();
        j["moe_layers"] = m.moe_layer_count();
    }
    return j;
}

void show_model(const ModelSpec& m, const GlobalOptions& options)
{
    const int e = bytes_per_element(m.dtype);
    if (options.json) {
        OrderedJson j = model_to_json(m);
        j["parameters"] = parameter_json(m);
        j["weight_bytes"] = m.total_params() * e;
        j["kv_cache_bytes_per_token"] = m.kv_cache_bytes_per_token();
        print_json(j);
        return;
    }
    std::cout << m.name << "  (id " << m.id << ", family " << m.family << ")\n\n";
    TextTable shape({"field", "value"});
    shape.add_row({"layers", std::to_string(m.layers)});
    shape.add_row({"hidden", std::to_string(m.hidden)});
    shape.add_row({"attention", std::to_string(m.heads) + " heads, " + std::to_string(m.kv_heads)
                                    + " KV heads, head dim " + std::to_string(m.head_dim)
                                    + (m.kv_heads == 1        ? " (MQA)"
                                       : m.kv_heads < m.heads ? " (GQA)"
                                                              : " (MHA)")});
    if (m.mla)
        shape.add_row(
            {"MLA", "q_lora " + std::to_string(m.mla->q_lora_rank) + ", kv_lora " + std::to_string(m.mla->kv_lora_rank)
                        + ", rope " + std::to_string(m.mla->qk_rope_head_dim) + ", nope "
                        + std::to_string(m.mla->qk_nope_head_dim) + ", v " + std::to_string(m.mla->v_head_dim)});
    shape.add_row({"mlp", std::to_string(m.ffn) + (m.gated_mlp ? " gated " : " plain ") + to_string(m.activation)});
    if (m.is_moe()) {
        const MoeSpec& moe = *m.moe;
        shape.add_row({"experts", std::to_string(moe.experts) + " routed (top-" + std::to_string(moe.experts_per_token)
                                      + ", ffn " + std::to_string(moe.expert_ffn) + "), "
                                      + std::to_string(moe.shared_experts) + " shared"});
        shape.add_row({"MoE layers", std::to_string(m.moe_layer_count()) + " of " + std::to_string(m.layers)
                                         + " (first " + std::to_string(moe.first_dense_layers) + " dense)"});
    }
    shape.add_row({"norm", to_string(m.norm) + " x" + std::to_string(m.norms_per_layer) + " per layer"
                               + (m.qk_norm ? ", qk-norm" : "")});
    shape.add_row({"positions", to_string(m.position)});
    shape.add_row({"vocab", std::to_string(m.vocab) + (m.tied_embeddings ? " (tied embeddings)" : "")});
    shape.add_row({"max context", std::to_string(m.max_context)});
    shape.add_row({"dtype", to_string(m.dtype)});
    std::cout << shape.render() << '\n';

    TextTable params({"parameters", "count", ""},
                     {TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right});
    params.add_row({"total", format_count(m.total_params()), format_params(m.total_params())});
    if (m.is_moe())
        params.add_row({"active per token", format_count(m.active_params()), format_params(m.active_params())});
    params.add_row({"embedding", format_count(m.embedding_params()), format_params(m.embedding_params())});
    params.add_row({"lm head", format_count(m.lm_head_params()), format_params(m.lm_head_params())});
    params.add_row({"attention / layer", format_count(m.attention_params()), format_params(m.attention_params())});
    params.add_row({"dense mlp / layer", format_count(m.dense_mlp_params()), format_params(m.dense_mlp_params())});
    if (m.is_moe())
        params.add_row(
            {"moe mlp / layer", format_count(m.moe_mlp_params(false)), format_params(m.moe_mlp_params(false))});
    std::cout << params.render() << '\n';
    std::cout << "Weights (" << to_string(m.dtype) << "): " << format_bytes(double(m.total_params()) * e) << '\n';
    std::cout << "KV cache per token (" << to_string(m.dtype) << "): " << format_count(m.kv_cache_bytes_per_token())
              << " bytes (" << format_bytes(double(m.kv_cache_bytes_per_token())) << ")"
              << (m.mla ? ", compressed MLA latent" : "") << '\n';
}

} // namespace

void register_model_commands(CLI::App& app, const GlobalOptions& options)
{
    auto* models = app.add_subcommand("models", "List the model presets");
    models->callback([&options] {
        const auto& library = PresetLibrary::instance();
        if (options.json) {
            OrderedJson list = OrderedJson::array();
            for (const auto& m : library.models()) {
                OrderedJson j = model_to_json(m);
                j["parameters"] = parameter_json(m);
                j["kv_cache_bytes_per_token"] = m.kv_cache_bytes_per_token();
                list.push_back(j);
            }
            print_json(list);
            return;
        }
        TextTable table({"id", "name", "params", "active", "layers", "hidden", "heads/kv", "experts", "KV/token"},
                        {TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Right,
                         TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right,
                         TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right});
        for (const auto& m : library.models()) {
            table.add_row(
                {m.id, m.name, format_params(m.total_params()), m.is_moe() ? format_params(m.active_params()) : "",
                 std::to_string(m.layers), std::to_string(m.hidden),
                 std::to_string(m.heads) + "/" + std::to_string(m.kv_heads),
                 m.is_moe() ? std::to_string(m.moe->experts) + " top-" + std::to_string(m.moe->experts_per_token) : "",
                 format_bytes(double(m.kv_cache_bytes_per_token()))});
        }
        std::cout << table.render();
    });

    auto* model = app.add_subcommand("model", "Inspect a model");
    model->require_subcommand(1);
    auto* show = model->add_subcommand("show", "Show a model's shape, parameter count and KV-cache size");
    auto name = std::make_shared<std::string>();
    show->add_option("NAME", *name, "Preset id, model JSON or Hugging Face config.json")->required();
    show->callback([&options, name] { show_model(PresetLibrary::instance().model(*name), options); });
}

} // namespace shard::cli
