#include "test_models.h"

#include "core/presets.h"

namespace shard::run {

ModelSpec test_model(const std::string& id)
{
    if (id != "tiny-gpt2" && id != "tiny-qk-norm" && id != "tiny-gqa-d32")
        return PresetLibrary::instance().model(id);
    ModelSpec m = PresetLibrary::instance().model("tiny-dense");
    m.id = m.name = id;
    if (id == "tiny-gpt2") {
        m.family = "gpt2";
        m.layers = 2;
        m.hidden = 96;
        m.heads = m.kv_heads = 12;
        m.head_dim = 8;
        m.ffn = 384;
        m.gated_mlp = false;
        m.activation = Activation::GELUTanh;
        m.qkv_bias = m.out_bias = m.mlp_bias = true;
        m.norm = NormKind::LayerNorm;
        m.position = PositionKind::Learned;
        m.max_context = 128;
        m.tied_embeddings = true;
        m.vocab = 501;
    } else if (id == "tiny-qk-norm") {
        m.family = "qwen3";
        m.qk_norm = true;
        m.kv_heads = 24;
    } else {
        m.hidden = 256;
        m.heads = 8;
        m.kv_heads = 2;
        m.head_dim = 32;
        m.ffn = 512;
    }
    return m;
}

} // namespace shard::run
