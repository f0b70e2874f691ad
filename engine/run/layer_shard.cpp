#include "layer_shard.h"

#include <algorithm>

namespace shard::run {

namespace {

// Rows or columns [index * n / parts, (index + 1) * n / parts).
std::int64_t part_begin(std::int64_t n, int parts, int index)
{
    return std::int64_t(index) * n / parts;
}

std::int64_t part_end(std::int64_t n, int parts, int index)
{
    return part_begin(n, parts, index + 1);
}

} // namespace

LayerNorms layer_norms(const ModelWeights& weights, int layer)
{
    auto name = [&](const char* n) { return ModelWeights::layer(layer, n); };
    LayerNorms n;
    n.input_norm = weights.get(name("input_norm"));
    n.input_norm_bias = weights.get_or_empty(name("input_norm.bias"));
    n.post_norm = weights.get(name("post_attention_norm"));
    n.post_norm_bias = weights.get_or_empty(name("post_attention_norm.bias"));
    n.q_norm = weights.get_or_empty(name("q_norm"));
    n.k_norm = weights.get_or_empty(name("k_norm"));
    return n;
}

AttentionShard attention_shard(const ModelWeights& weights, TensorMode mode, const ShardGeometry& geometry,
                               TensorSlot slot, int layer)
{
    const ModelSpec& m = weights.model();
    auto name = [&](const char* n) { return ModelWeights::layer(layer, n); };
    const Matrix& Wq = weights.get(name("q"));
    const Matrix& Wk = weights.get(name("k"));
    const Matrix& Wv = weights.get(name("v"));
    const Matrix& Wo = weights.get(name("o"));
    const Matrix qb = weights.get_or_empty(name("q.bias"));
    const Matrix kb = weights.get_or_empty(name("k.bias"));
    const Matrix vb = weights.get_or_empty(name("v.bias"));
    const std::int64_t h = m.hidden;
    const std::int64_t d = m.head_dim;
    const int r = slot.rank;
    const int t = slot.size;
    AttentionShard a;
    if (mode == TensorMode::Row1D) {
        a.heads = m.heads;
        a.kv_heads = m.kv_heads;
        a.q = Wq.slice_rows(part_begin(h, t, r), part_end(h, t, r));
        a.k = Wk.slice_rows(part_begin(h, t, r), part_end(h, t, r));
        a.v = Wv.slice_rows(part_begin(h, t, r), part_end(h, t, r));
        a.q_bias = qb;
        a.k_bias = kb;
        a.v_bias = vb;
        const std::int64_t aw = std::int64_t(m.heads) * d;
        a.o = Wo.slice_rows(part_begin(aw, t, r), part_end(aw, t, r));
    } else {
        // Megatron and column split the heads; attention data parallelism keeps them all.
        a.heads = geometry.heads_local;
        a.kv_heads = geometry.kv_heads_local;
        const bool heads_split = geometry.head_parts > 1;
        const std::int64_t first_head = heads_split ? std::int64_t(r) * a.heads : 0;
        const std::int64_t first_kv = heads_split ? first_head / (m.heads / m.kv_heads) : 0;
        const std::int64_t q0 = first_head * d, q1 = (first_head + a.heads) * d;
        const std::int64_t kv0 = first_kv * d, kv1 = (first_kv + a.kv_heads) * d;
        a.q = Wq.slice_cols(q0, q1);
        a.k = Wk.slice_cols(kv0, kv1);
        a.v = Wv.slice_cols(kv0, kv1);
        a.q_bias = qb.slice_cols(q0, q1);
        a.k_bias = kb.slice_cols(kv0, kv1);
        a.v_bias = vb.slice_cols(kv0, kv1);
        a.o = mode == TensorMode::Column1D ? Wo.slice_cols(part_begin(h, t, r), part_end(h, t, r))
                                           : Wo.slice_rows(q0, q1);
    }
    a.o_bias = weights.get_or_empty(name("o.bias"));
    if (mode == TensorMode::Column1D)
        a.o_bias = a.o_bias.slice_cols(part_begin(h, t, r), part_end(h, t, r));
    return a;
}

MlpSplit mlp_split(TensorMode mode, int parts)
{
    if (parts > 1 && mode == TensorMode::Row1D)
        return MlpSplit::Row;
    if (parts > 1 && mode == TensorMode::Column1D)
        return MlpSplit::Column;
    return MlpSplit::Megatron;
}

MlpShard mlp_shard(const ModelWeights& weights, const std::string& prefix, std::int64_t width, int parts, int index,
                   MlpSplit split, TensorSlot slot)
{
    const std::int64_t h = weights.model().hidden;
    const Matrix gate = weights.get_or_empty(prefix + ".gate");
    const Matrix& up = weights.get(prefix + ".up");
    const Matrix& down = weights.get(prefix + ".down");
    const std::int64_t b0 = part_begin(width, parts, index);
    const std::int64_t b1 = part_end(width, parts, index);
    const std::int64_t h0 = part_begin(h, slot.size, slot.rank);
    const std::int64_t h1 = part_end(h, slot.size, slot.rank);
    MlpShard e;
    if (split == MlpSplit::Row) {
        e.gate = gate.slice_rows(h0, h1);
        e.up = up.slice_rows(h0, h1);
        e.down = down.slice_rows(b0, b1);
        e.gate_bias = weights.get_or_empty(prefix + ".gate.bias");
        e.up_bias = weights.get_or_empty(prefix + ".up.bias");
    } else {
        e.gate = gate.slice_cols(b0, b1);
        e.up = up.slice_cols(b0, b1);
        e.gate_bias = weights.get_or_empty(prefix + ".gate.bias").slice_cols(b0, b1);
        e.up_bias = weights.get_or_empty(prefix + ".up.bias").slice_cols(b0, b1);
        e.down = split == MlpSplit::Column ? down.slice_cols(h0, h1) : down.slice_rows(b0, b1);
    }
    e.down_bias = weights.get_or_empty(prefix + ".down.bias");
    if (split == MlpSplit::Column)
        e.down_bias = e.down_bias.slice_cols(h0, h1);
    return e;
}

ExpertSlot expert_slot(const Strategy& strategy, const ShardGeometry& geometry, int replica, TensorSlot slot)
{
    ExpertSlot e;
    if (strategy.ep == 1) {
        e.count = geometry.experts_local;
        e.parts = slot.size;
        e.index = slot.rank;
        e.shared_parts = slot.size;
        e.shared_index = slot.rank;
        return e;
    }
    const int etp = geometry.expert_tp;
    const int stage_offset = replica * slot.size + slot.rank;
    e.first = stage_offset / etp * geometry.experts_local;
    e.count = geometry.experts_local;
    e.parts = etp;
    e.index = stage_offset % etp;
    return e;
}

std::int64_t vocab_begin(std::int64_t vocab_padded, int parts, int index)
{
    return std::int64_t(index) * (vocab_padded / parts);
}

namespace {

// Slice `index` of a vocabulary padded to `vocab_padded` over `parts` ranks, and how many of
// its rows are real tokens (the rest is padding, zero).
struct VocabSlice {
    std::int64_t rows = 0;
    std::int64_t begin = 0;
    std::int64_t valid = 0;
};

VocabSlice vocab_slice(const ModelSpec& m, std::int64_t vocab_padded, int parts, int index)
{
    VocabSlice v;
    v.rows = vocab_padded / parts;
    v.begin = vocab_begin(vocab_padded, parts, index);
    v.valid = std::clamp<std::int64_t>(m.vocab - v.begin, 0, v.rows);
    return v;
}

} // namespace

Matrix embedding_rows(const ModelWeights& weights, std::int64_t vocab_padded, int parts, int index)
{
    const std::int64_t h = weights.model().hidden;
    const VocabSlice v = vocab_slice(weights.model(), vocab_padded, parts, index);
    const Matrix& E = weights.get("embed");
    Matrix rows{v.rows, h, std::vector<float>(std::size_t(v.rows * h), 0.0f)};
    std::copy_n(E.data.begin() + v.begin * h, v.valid * h, rows.data.begin());
    return rows;
}

Matrix head_columns(const ModelWeights& weights, std::int64_t vocab_padded, int parts, int index)
{
    const ModelSpec& m = weights.model();
    const std::int64_t h = m.hidden;
    const VocabSlice v = vocab_slice(m, vocab_padded, parts, index);
    Matrix head{h, v.rows, std::vector<float>(std::size_t(h * v.rows), 0.0f)};
    if (m.tied_embeddings) {
        const Matrix& E = weights.get("embed");
        for (std::int64_t i = 0; i < v.valid; ++i)
            for (std::int64_t c = 0; c < h; ++c)
                head.data[std::size_t(c * v.rows + i)] = E.data[std::size_t((v.begin + i) * h + c)];
    } else {
        const Matrix& lm = weights.get("lm_head");
        for (std::int64_t c = 0; c < h; ++c)
            std::copy_n(lm.data.begin() + c * m.vocab + v.begin, v.valid, head.data.begin() + c * v.rows);
    }
    return head;
}

} // namespace shard::run
