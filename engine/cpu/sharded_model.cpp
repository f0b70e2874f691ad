#include "sharded_model.h"

#include "detail/sharded_layer.h"
#include "kernels.h"
#include "run/layer_shard.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

namespace shard::cpu {

namespace {

using Vec = std::vector<float>;

std::span<const float> span_of(const Matrix& m)
{
    return m.data;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b)
{
    return (a + b - 1) / b;
}

} // namespace

ShardedModel::~ShardedModel() = default;

ShardedModel::ShardedModel(const ModelWeights& weights, const Strategy& strategy, const ShardGeometry& geometry,
                           RankPlace place, RankComms comms, int max_context, RankLog* log)
    : RankModelBase(weights, strategy, geometry, place, comms, max_context, log)
    , m_t(strategy.tensor_size())
{
    if (const auto why = cpu_unsupported_layout(m_model, strategy); !why.empty())
        throw Error(why);
    const ModelSpec& m = m_model;
    const TensorMode mode = strategy.tensor_mode;
    const bool data = strategy.attention == AttentionMode::Data;
    m_sequenceSharded = mode == TensorMode::MegatronSP || data;
    m_moeRowsSharded = m.is_moe() && strategy.ep > 1 && m_t > 1 && !m_sequenceSharded;
    const int r = place.tensor;
    const int t = m_t;
    const std::int64_t d = m.head_dim;
    const std::int64_t f = m.ffn;
    const auto split = strategy.resolved_stage_layers(m.layers);
    for (int s = 0; s < place.stage; ++s)
        m_firstLayer += split[s];
    m_layerCount = split[place.stage];

    const run::TensorSlot slot{r, t};
    const run::MlpSplit dense_split = run::mlp_split(mode, t);
    const std::int64_t seqs = geometry.batch_per_replica;
    for (int l = m_firstLayer; l < m_firstLayer + m_layerCount; ++l) {
        Layer L;
        L.index = l;
        L.moe = m.is_moe_layer(l);
        auto name = [&](const char* n) { return ModelWeights::layer(l, n); };
        static_cast<run::LayerNorms&>(L) = run::layer_norms(weights, l);
        static_cast<run::AttentionShard&>(L) = run::attention_shard(weights, mode, geometry, slot, l);
        const std::size_t cache = std::size_t(seqs) * max_context * L.kv_heads * d;
        L.k_cache.assign(cache, 0.0f);
        L.v_cache.assign(cache, 0.0f);

        if (!L.moe) {
            L.mlp = run::mlp_shard(weights, name("mlp"), f, t, r, dense_split, slot);
        } else {
            const MoeSpec& moe = *m.moe;
            L.router = weights.get(name("router"));
            const run::ExpertSlot held = run::expert_slot(strategy, geometry, place.replica, slot);
            const run::MlpSplit expert_split = run::mlp_split(mode, held.parts);
            for (int e = held.first; e < held.first + held.count; ++e)
                L.experts[e] = run::mlp_shard(weights, name(("experts." + std::to_string(e)).c_str()), moe.expert_ffn,
                                              held.parts, held.index, expert_split, slot);
            if (moe.shared_experts > 0)
                L.shared =
                    run::mlp_shard(weights, name("shared"), moe.shared_expert_ffn * moe.shared_experts,
                                   held.shared_parts, held.shared_index, run::mlp_split(mode, held.shared_parts), slot);
            L.shared_gate = weights.get_or_empty(name("shared_gate"));
        }
        m_layers.push_back(std::move(L));
    }

    // Vocabulary-parallel embedding and head (padded vocabulary, padding rows are zero).
    m_vocabBegin = run::vocab_begin(geometry.vocab_padded, t, r);
    m_embed = run::embedding_rows(weights, geometry.vocab_padded, t, r);
}

std::string cpu_unsupported_layout(const ModelSpec& model, const Strategy& strategy)
{
    if (tensor_rank(strategy.tensor_mode) > 1) {
        if (model.is_moe())
            return "2D / 3D layouts of MoE layers are not implemented in the CPU executor";
    }
    return {};
}

std::int64_t ShardedModel::local_rows(std::int64_t rows) const
{
    return m_sequenceSharded ? rows / m_t : rows;
}

std::optional<StepOutput> ShardedModel::step(const std::vector<std::int64_t>& tokens, int first_seq, int seqs,
                                             std::int64_t position, int T)
{
    const std::int64_t rows = std::int64_t(seqs) * T;
    const std::int64_t h = m_model.hidden;
    Vec x;
    if (m_place.stage == 0) {
        embed(x, tokens, rows, position, T);
    } else {
        x.resize(std::size_t(local_rows(rows) * h));
        m_comms.prev->recv(x, 0);
    }
    for (auto& layer : m_layers) {
        const bool moe = layer.moe;
        attention_block(layer, x, first_seq, seqs, position, T, moe);
        if (moe)
            moe_block(layer, x, rows);
        else
            mlp_block(layer, x, rows);
    }
    if (m_comms.next) {
        m_comms.next->send(x, 1);
        return std::nullopt;
    }
    return head(x, seqs, T);
}

void ShardedModel::embed(Vec& x, const std::vector<std::int64_t>& tokens, std::int64_t rows, std::int64_t position,
                         int T)
{
    const ModelSpec& m = m_model;
    const std::int64_t h = m.hidden;
    ScopedOp timer(m_log, "embed_lookup", "embedding", -1);
    Vec partial(std::size_t(rows * h), 0.0f);
    for (std::int64_t i = 0; i < rows; ++i) {
        const std::int64_t v = tokens[i] - m_vocabBegin;
        if (v >= 0 && v < m_embed.rows)
            std::copy_n(m_embed.data.begin() + v * h, h, partial.begin() + i * h);
    }
    timer.stop();
    std::int64_t first_row = 0;
    if (m_t == 1) {
        x = std::move(partial);
    } else if (m_sequenceSharded) {
        x.resize(std::size_t(rows / m_t * h));
        m_comms.tp->reduce_scatter(partial, x);
        first_row = m_place.tensor * rows / m_t;
    } else {
        m_comms.tp->all_reduce(partial);
        x = std::move(partial);
    }
    if (m.position == PositionKind::Learned) {
        const Matrix& pos = m_weights.get("positions");
        const std::int64_t local = std::int64_t(x.size()) / h;
        for (std::int64_t i = 0; i < local; ++i)
            add({x.data() + i * h, std::size_t(h)}, pos.row(position + (first_row + i) % T));
    }
}

void ShardedModel::attention_block(Layer& L, Vec& x, int first_seq, int seqs, std::int64_t position, int T,
                                   bool moe_follows)
{
    const ModelSpec& m = m_model;
    const TensorMode mode = m_strategy.tensor_mode;
    const bool data = m_strategy.attention == AttentionMode::Data;
    const int t = m_t;
    const int r = m_place.tensor;
    const std::int64_t h = m.hidden;
    const int d = m.head_dim;
    const std::int64_t M = std::int64_t(seqs) * T;

    // Normalised input on the rows this rank computes attention for.
    ScopedOp norm_timer(m_log, "input_norm", "norm", L.index);
    Vec hn = x;
    norm(m, hn, L.input_norm.data, span_of(L.input_norm_bias), std::int64_t(hn.size()) / h, h);
    norm_timer.stop();
    if (mode == TensorMode::MegatronSP && t > 1) {
        Vec full(std::size_t(M * h));
        m_comms.tp->all_gather(hn, full);
        hn = std::move(full);
    }
    const std::int64_t rowsA = data ? M / t : M; // rows attention runs on
    const int seqsA = data ? seqs / t : seqs;
    const int seq0 = first_seq + (data ? r * seqsA : 0); // replica-local index of the first sequence
    const std::int64_t qw = std::int64_t(L.heads) * d;
    const std::int64_t kw = std::int64_t(L.kv_heads) * d;
    Vec q(std::size_t(rowsA * qw)), k(std::size_t(rowsA * kw)), v(std::size_t(rowsA * kw));
    ScopedOp qkv_timer(m_log, "qkv_proj", "qkv", L.index);
    if (mode == TensorMode::Row1D) {
        // Partial sums of q | k | v from this rank's rows of hidden, then one AllReduce.
        Vec hs(std::size_t(M * (h / t)));
        for (std::int64_t i = 0; i < M; ++i)
            std::copy_n(hn.begin() + i * h + r * (h / t), h / t, hs.begin() + i * (h / t));
        const std::int64_t width = qw + 2 * kw;
        Vec packed(std::size_t(M * width));
        Vec part;
        std::int64_t offset = 0;
        for (const Matrix* W : {&L.q, &L.k, &L.v}) {
            part.assign(std::size_t(M * W->cols), 0.0f);
            gemm(hs, W->data, part, M, h / t, W->cols);
            for (std::int64_t i = 0; i < M; ++i)
                std::copy_n(part.begin() + i * W->cols, W->cols, packed.begin() + i * width + offset);
            offset += W->cols;
        }
        qkv_timer.stop();
        m_comms.tp->all_reduce(packed);
        for (std::int64_t i = 0; i < M; ++i) {
            std::copy_n(packed.begin() + i * width, qw, q.begin() + i * qw);
            std::copy_n(packed.begin() + i * width + qw, kw, k.begin() + i * kw);
            std::copy_n(packed.begin() + i * width + qw + kw, kw, v.begin() + i * kw);
        }
    } else {
        gemm(hn, L.q.data, q, rowsA, h, qw);
        gemm(hn, L.k.data, k, rowsA, h, kw);
        gemm(hn, L.v.data, v, rowsA, h, kw);
    }
    if (!L.q_bias.data.empty()) {
        add_bias(q, L.q_bias.data, rowsA, qw);
        add_bias(k, L.k_bias.data, rowsA, kw);
        add_bias(v, L.v_bias.data, rowsA, kw);
    }
    if (!L.q_norm.data.empty()) {
        rms_norm(q, L.q_norm.data, rowsA * L.heads, d);
        rms_norm(k, L.k_norm.data, rowsA * L.kv_heads, d);
    }
    qkv_timer.stop();
    ScopedOp attention_timer(m_log, "attention", "attention", L.index);
    std::vector<std::int64_t> positions(static_cast<std::size_t>(T));
    std::iota(positions.begin(), positions.end(), position);
    Vec attn(std::size_t(rowsA * qw));
    for (int b = 0; b < seqsA; ++b) {
        float* qb = q.data() + std::int64_t(b) * T * qw;
        float* kb = k.data() + std::int64_t(b) * T * kw;
        if (m.position == PositionKind::Rotary) {
            rotary({qb, std::size_t(T * qw)}, T, L.heads, d, positions);
            rotary({kb, std::size_t(T * kw)}, T, L.kv_heads, d, positions);
        }
        float* kc = L.k_cache.data() + std::int64_t(seq0 + b) * m_maxContext * kw;
        float* vc = L.v_cache.data() + std::int64_t(seq0 + b) * m_maxContext * kw;
        std::copy_n(kb, T * kw, kc + position * kw);
        std::copy_n(v.data() + std::int64_t(b) * T * kw, T * kw, vc + position * kw);
        attention({qb, std::size_t(T * qw)}, {kc, std::size_t(m_maxContext * kw)}, {vc, std::size_t(m_maxContext * kw)},
                  {attn.data() + std::int64_t(b) * T * qw, std::size_t(T * qw)}, T, positions, L.heads, L.kv_heads, d);
    }

    attention_timer.stop();
    // Out-projection and its reduction; `out` ends on the rows x holds.
    ScopedOp o_timer(m_log, "o_proj", "out_proj", L.index);
    Vec out;
    if (mode == TensorMode::Column1D) {
        const std::int64_t aw = std::int64_t(m.heads) * d;
        Vec blocks(std::size_t(M * aw));
        o_timer.stop();
        m_comms.tp->all_gather(attn, blocks);
        const Vec full = interleave(blocks, t, M, qw);
        Vec local(std::size_t(M * (h / t)));
        gemm(full, L.o.data, local, M, aw, h / t);
        if (!L.o_bias.data.empty())
            add_bias(local, L.o_bias.data, M, h / t);
        Vec gathered(std::size_t(M * h));
        m_comms.tp->all_gather(local, gathered);
        out = interleave(gathered, t, M, h / t);
    } else if (mode == TensorMode::Row1D) {
        const std::int64_t aw = std::int64_t(m.heads) * d;
        Vec as(std::size_t(M * (aw / t)));
        for (std::int64_t i = 0; i < M; ++i)
            std::copy_n(attn.begin() + i * aw + r * (aw / t), aw / t, as.begin() + i * (aw / t));
        out.assign(std::size_t(M * h), 0.0f);
        gemm(as, L.o.data, out, M, aw / t, h);
        o_timer.stop();
        m_comms.tp->all_reduce(out);
        if (!L.o_bias.data.empty())
            add_bias(out, L.o_bias.data, M, h);
    } else {
        Vec partial(std::size_t(rowsA * h));
        gemm(attn, L.o.data, partial, rowsA, qw, h);
        o_timer.stop();
        if (t == 1 || data) {
            out = std::move(partial);
        } else if (mode == TensorMode::MegatronSP) {
            out.resize(std::size_t(M / t * h));
            m_comms.tp->reduce_scatter(partial, out);
        } else if (moe_follows && m_moeRowsSharded) {
            const std::int64_t local = ceil_div(M, t);
            partial.resize(std::size_t(local * t * h), 0.0f); // padded rows
            out.resize(std::size_t(local * h));
            m_comms.tp->reduce_scatter(partial, out);
            // From here the residual stream is this rank's padded row shard.
            Vec shard(std::size_t(local * h), 0.0f);
            const std::int64_t begin = r * local;
            const std::int64_t valid = std::clamp<std::int64_t>(M - begin, 0, local);
            std::copy_n(x.begin() + begin * h, valid * h, shard.begin());
            x = std::move(shard);
        } else {
            m_comms.tp->all_reduce(partial);
            out = std::move(partial);
        }
        if (!L.o_bias.data.empty())
            add_bias(out, L.o_bias.data, std::int64_t(out.size()) / h, h);
    }
    add(x, out);
}

void ShardedModel::mlp_block(Layer& L, Vec& x, std::int64_t M)
{
    const ModelSpec& m = m_model;
    const TensorMode mode = m_strategy.tensor_mode;
    const int t = m_t;
    const int r = m_place.tensor;
    const std::int64_t h = m.hidden;
    const ExpertWeights& e = L.mlp;
    const std::int64_t width = e.up.cols;
    ScopedOp norm_timer(m_log, "post_attention_norm", "norm", L.index);
    Vec hn = x;
    norm(m, hn, L.post_norm.data, span_of(L.post_norm_bias), std::int64_t(hn.size()) / h, h);
    norm_timer.stop();
    if (m_sequenceSharded && t > 1) {
        Vec full(std::size_t(M * h));
        m_comms.tp->all_gather(hn, full);
        hn = std::move(full);
    }
    Vec out(std::size_t(M * h), 0.0f);
    ScopedOp mlp_timer(m_log, "mlp", "mlp_up", L.index);
    if (mode == TensorMode::Column1D) {
        Vec act(std::size_t(M * width));
        Vec up(std::size_t(M * width));
        gemm(hn, e.up.data, up, M, h, width);
        if (!e.up_bias.data.empty())
            add_bias(up, e.up_bias.data, M, width);
        if (!e.gate.data.empty()) {
            Vec g(std::size_t(M * width));
            gemm(hn, e.gate.data, g, M, h, width);
            if (!e.gate_bias.data.empty())
                add_bias(g, e.gate_bias.data, M, width);
            activate(m.activation, g);
            for (std::size_t i = 0; i < up.size(); ++i)
                act[i] = g[i] * up[i];
        } else {
            activate(m.activation, up);
            act = up;
        }
        Vec blocks(std::size_t(M * width * t));
        mlp_timer.stop();
        m_comms.tp->all_gather(act, blocks);
        const Vec full = interleave(blocks, t, M, width);
        Vec local(std::size_t(M * (h / t)));
        gemm(full, e.down.data, local, M, width * t, h / t);
        if (!e.down_bias.data.empty())
            add_bias(local, e.down_bias.data, M, h / t);
        Vec gathered(std::size_t(M * h));
        m_comms.tp->all_gather(local, gathered);
        out = interleave(gathered, t, M, h / t);
    } else if (mode == TensorMode::Row1D) {
        Vec hs(std::size_t(M * (h / t)));
        for (std::int64_t i = 0; i < M; ++i)
            std::copy_n(hn.begin() + i * h + r * (h / t), h / t, hs.begin() + i * (h / t));
        const std::int64_t f = e.up.cols;
        const std::int64_t gm = e.gate.data.empty() ? 1 : 2;
        Vec packed(std::size_t(M * gm * f), 0.0f); // [gate | up] per row
        Vec part(std::size_t(M * f));
        for (std::int64_t which = 0; which < gm; ++which) {
            const Matrix& W = gm == 2 && which == 0 ? e.gate : e.up;
            gemm(hs, W.data, part, M, h / t, f);
            for (std::int64_t i = 0; i < M; ++i)
                std::copy_n(part.begin() + i * f, f, packed.begin() + i * gm * f + which * f);
        }
        mlp_timer.stop();
        m_comms.tp->all_reduce(packed);
        Vec act(std::size_t(M * f));
        for (std::int64_t i = 0; i < M; ++i) {
            float* row = packed.data() + i * gm * f;
            if (gm == 2) {
                if (!e.gate_bias.data.empty())
                    add({row, std::size_t(f)}, e.gate_bias.data);
                if (!e.up_bias.data.empty())
                    add({row + f, std::size_t(f)}, e.up_bias.data);
                activate(m.activation, {row, std::size_t(f)});
                for (std::int64_t c = 0; c < f; ++c)
                    act[i * f + c] = row[c] * row[f + c];
            } else {
                if (!e.up_bias.data.empty())
                    add({row, std::size_t(f)}, e.up_bias.data);
                activate(m.activation, {row, std::size_t(f)});
                std::copy_n(row, f, act.begin() + i * f);
            }
        }
        const std::int64_t fl = f / t;
        Vec as(std::size_t(M * fl));
        for (std::int64_t i = 0; i < M; ++i)
            std::copy_n(act.begin() + i * f + r * fl, fl, as.begin() + i * fl);
        gemm(as, e.down.data, out, M, fl, h);
        m_comms.tp->all_reduce(out);
        if (!e.down_bias.data.empty())
            add_bias(out, e.down_bias.data, M, h);
    } else {
        // Megatron pairing: column-parallel up/gate, row-parallel down, one reduction.
        expert_mlp(m, e.gate.if_present(), e.up, e.down, e.gate_bias.if_present(), e.up_bias.if_present(), nullptr, hn,
                   out, M);
        mlp_timer.stop();
        if (t > 1) {
            if (m_sequenceSharded) {
                Vec local(std::size_t(M / t * h));
                m_comms.tp->reduce_scatter(out, local);
                out = std::move(local);
            } else {
                m_comms.tp->all_reduce(out);
            }
        }
        if (!e.down_bias.data.empty())
            add_bias(out, e.down_bias.data, std::int64_t(out.size()) / h, h);
    }
    add(x, out);
}

} // namespace shard::cpu
