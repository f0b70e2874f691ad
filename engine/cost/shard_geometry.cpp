#include "shard_geometry.h"

#include <algorithm>

namespace shard {

namespace {

std::string str(std::int64_t v)
{
    return std::to_string(v);
}

bool divides(std::int64_t part, std::int64_t whole)
{
    return part > 0 && whole % part == 0;
}

// Ways the heads are split, and ways the sequences of a step are split, per mode.
void mode_partitions(const Strategy& s, ShardGeometry& g)
{
    const auto& shape = s.tensor_shape;
    switch (s.tensor_mode) {
    case TensorMode::None:
        g.head_parts = 1;
        g.token_parts = 1;
        break;
    case TensorMode::Column1D:
    case TensorMode::Megatron1D:
    case TensorMode::MegatronSP:
        g.head_parts = s.attention == AttentionMode::Data ? 1 : g.t;
        g.token_parts = s.attention == AttentionMode::Data ? g.t : 1;
        break;
    case TensorMode::Row1D:
        g.head_parts = 1;
        g.token_parts = 1;
        break; // attention replicated
    case TensorMode::Summa2D:
        g.head_parts = shape[1];
        g.token_parts = shape[0];
        break;
    case TensorMode::WeightStationary2D:
        g.head_parts = g.t;
        g.token_parts = 1;
        break;
    case TensorMode::Tesseract25D:
        g.head_parts = shape[2];
        g.token_parts = shape[0] * shape[1];
        break;
    case TensorMode::Cube3D:
        g.head_parts = shape[2];
        g.token_parts = shape[0] * shape[1];
        break;
    }
}

std::string check_widths(const ModelSpec& m, const Strategy& s, const ShardGeometry& g)
{
    const auto& shape = s.tensor_shape;
    auto need = [&](std::int64_t width, std::int64_t parts, const char* what) -> std::string {
        if (divides(parts, width))
            return {};
        return std::string(what) + " " + str(width) + " does not divide over " + str(parts) + " (" + s.label() + ")";
    };
    std::string r;
    switch (s.tensor_mode) {
    case TensorMode::None:
        return {};
    case TensorMode::Column1D:
    case TensorMode::Row1D:
    case TensorMode::Megatron1D:
    case TensorMode::MegatronSP:
        if (!(r = need(m.ffn, g.t, "FFN width")).empty() || !(r = need(m.hidden, g.t, "hidden size")).empty())
            return r;
        return {};
    case TensorMode::Summa2D:
    case TensorMode::Tesseract25D: {
        const int q = shape.back();
        if (!(r = need(m.hidden, q, "hidden size")).empty() || !(r = need(m.ffn, q, "FFN width")).empty())
            return r;
        return {};
    }
    case TensorMode::WeightStationary2D:
        if (!(r = need(m.hidden, g.t, "hidden size")).empty() || !(r = need(m.ffn, g.t, "FFN width")).empty())
            return r;
        return {};
    case TensorMode::Cube3D: {
        const std::int64_t q2 = std::int64_t(shape[0]) * shape[0];
        if (!(r = need(m.hidden, q2, "hidden size")).empty() || !(r = need(m.ffn, q2, "FFN width")).empty())
            return r;
        return {};
    }
    }
    return {};
}

} // namespace

ShardGeometry shard_geometry(const ModelSpec& m, const Strategy& s, const Workload& w)
{
    ShardGeometry g;
    g.t = s.tensor_size();
    mode_partitions(s, g);
    auto reject = [&](std::string why) {
        if (g.reject.empty())
            g.reject = std::move(why);
        return g;
    };

    if (s.pp > m.layers)
        return reject(str(s.pp) + " pipeline stages for " + str(m.layers) + " layers");
    if (w.batch % s.dp != 0)
        return reject("batch " + str(w.batch) + " does not split over DP " + str(s.dp));
    g.batch_per_replica = w.batch / s.dp;
    // Microbatches: the largest divisor of the batch per replica not above the stage count.
    g.microbatches = 1;
    for (int mb = std::min(s.pp, g.batch_per_replica); mb >= 1; --mb) {
        if (g.batch_per_replica % mb == 0) {
            g.microbatches = mb;
            break;
        }
    }
    g.seqs_per_micro = g.batch_per_replica / g.microbatches;

    // Attention DP leaves the residual rows sharded over the group, and its MLP gathers them
    // and reduce-scatters them back: Megatron's MLP with what sequence parallelism adds, so
    // +SP would change nothing; column / row layouts keep every row on every device.
    if (s.attention == AttentionMode::Data && s.tensor_mode != TensorMode::Megatron1D)
        return reject("attention data parallelism pairs with the Megatron layout (its MLP already gathers and "
                      "reduce-scatters the rows, as sequence parallelism would), not with "
                      + s.label());
    if (m.mla && tensor_rank(s.tensor_mode) > 1)
        return reject("MLA attention (" + m.name + ") is modeled for 1D layouts only");

    // Heads: split, or replicated KV heads when there are fewer KV heads than parts.
    const int hp = g.head_parts;
    if (!divides(hp, m.heads))
        return reject(str(m.heads) + " attention heads do not divide over " + str(hp) + " devices (" + s.label() + ")");
    g.heads_local = m.heads / hp;
    if (m.mla) {
        g.kv_heads_local = 1; // the latent is shared by all heads and kept whole on every device
        g.kv_replication = hp;
    } else if (m.kv_heads % hp == 0) {
        g.kv_heads_local = m.kv_heads / hp;
    } else if (hp % m.kv_heads == 0) {
        g.kv_heads_local = 1;
        g.kv_replication = hp / m.kv_heads;
    } else {
        return reject(str(m.kv_heads) + " KV heads can be neither split nor evenly replicated over " + str(hp)
                      + " devices (" + s.label() + ")");
    }
    if (auto why = check_widths(m, s, g); !why.empty())
        return reject(why);

    // Sequences must stay whole on a device for attention.
    if (g.token_parts > 1 && g.seqs_per_micro % g.token_parts != 0)
        return reject("the batch per replica and microbatch (" + str(g.seqs_per_micro)
                      + " sequences) does not split over the " + str(g.token_parts) + " token shards of " + s.label());
    if (s.tensor_mode == TensorMode::MegatronSP) {
        // Sequence parallelism splits the tokens of every step evenly over tp.
        if (w.phase != Phase::Prefill && g.seqs_per_micro % g.t != 0)
            return reject("sequence parallelism needs the decode batch per replica and microbatch ("
                          + str(g.seqs_per_micro) + ") divisible by TP " + str(g.t));
        if ((std::int64_t(g.seqs_per_micro) * w.prompt) % g.t != 0)
            return reject("sequence parallelism needs the prefill tokens per microbatch ("
                          + str(std::int64_t(g.seqs_per_micro) * w.prompt) + ") divisible by TP " + str(g.t));
    }

    // Vocabulary: padded to the split, as serving engines do.
    const int vocab_parts = g.t;
    g.vocab_padded = (m.vocab + vocab_parts - 1) / vocab_parts * vocab_parts;

    if (m.is_moe()) {
        if (s.tensor_mode != TensorMode::None && s.tensor_mode != TensorMode::Megatron1D
            && s.tensor_mode != TensorMode::MegatronSP)
            return reject("expert layers are modeled with Megatron 1D layouts (TPn, TPn+SP), not " + s.label());
        if (s.ep % s.dp != 0)
            return reject("EP " + str(s.ep) + " must span whole DP replicas (a multiple of DP " + str(s.dp) + ")");
        if (!divides(s.ep, m.moe->experts))
            return reject(str(m.moe->experts) + " experts do not divide over EP " + str(s.ep));
        g.expert_tp = s.expert_tp();
        g.experts_local = m.moe->experts / s.ep;
        if (!divides(g.expert_tp, m.moe->expert_ffn))
            return reject("expert FFN width " + str(m.moe->expert_ffn) + " does not divide over expert TP "
                          + str(g.expert_tp));
    } else if (s.ep != 1) {
        return reject("EP " + str(s.ep) + " on a dense model");
    }
    return g;
}

} // namespace shard
