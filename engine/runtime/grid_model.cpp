#include "grid_model.h"

#include "detail/grid_layer.h"
#include "kernels.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace shard::cpu {

namespace {

using Vec = std::vector<float>;

Matrix block(const Matrix& m, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1)
{
    return m.slice_rows(r0, r1).slice_cols(c0, c1);
}

// Q, K, V fused so that head group g's columns are contiguous: [Q_g | K_g | V_g] for each g.
// Replicated KV heads are copied into every group that reads them. Works on weights and on
// their 1-row biases alike.
Matrix fuse_heads(const Matrix& q, const Matrix& k, const Matrix& v, const ModelSpec& m, int groups, int heads_local,
                  int kv_local)
{
    const std::int64_t d = m.head_dim;
    const std::int64_t width = std::int64_t(heads_local + 2 * kv_local) * d;
    const std::int64_t rows = q.rows;
    Matrix out{rows, width * groups, Vec(std::size_t(rows * width * groups))};
    for (int g = 0; g < groups; ++g) {
        const std::int64_t first_kv = std::int64_t(g) * heads_local / (m.heads / m.kv_heads);
        for (std::int64_t r = 0; r < rows; ++r) {
            float* dst = out.data.data() + r * out.cols + g * width;
            std::copy_n(q.data.begin() + r * q.cols + g * heads_local * d, heads_local * d, dst);
            std::copy_n(k.data.begin() + r * k.cols + first_kv * d, kv_local * d, dst + heads_local * d);
            std::copy_n(v.data.begin() + r * v.cols + first_kv * d, kv_local * d, dst + (heads_local + kv_local) * d);
        }
    }
    return out;
}

// Gate and up fused per output chunk: [gate_c | up_c] for each of `chunks`, so the
// activation is local to the device holding chunk c. Plain MLPs keep `up` as it is.
Matrix fuse_chunks(const Matrix* gate, const Matrix& up, int chunks)
{
    if (!gate)
        return up;
    const std::int64_t f = up.cols;
    const std::int64_t cw = f / chunks;
    Matrix out{up.rows, 2 * f, Vec(std::size_t(up.rows * 2 * f))};
    for (std::int64_t r = 0; r < up.rows; ++r)
        for (int c = 0; c < chunks; ++c) {
            std::copy_n(gate->data.begin() + r * f + c * cw, cw, out.data.begin() + r * 2 * f + c * 2 * cw);
            std::copy_n(up.data.begin() + r * f + c * cw, cw, out.data.begin() + r * 2 * f + c * 2 * cw + cw);
        }
    return out;
}

// Chunk `index` of `parts` of a 1-row bias, or empty when there is no bias.
Matrix bias_chunk(const Matrix& bias, int parts, int index)
{
    if (bias.data.empty())
        return {};
    const std::int64_t w = bias.cols / parts;
    return bias.slice_cols(index * w, (index + 1) * w);
}

} // namespace


GridModel::~GridModel() = default;

GridModel::GridModel(const ModelWeights& weights, const Strategy& strategy, const ShardGeometry& geometry,
                     RankPlace place, RankComms comms, int max_context, RankLog* log)
    : m_weights(weights)
    , m_model(weights.model())
    , m_strategy(strategy)
    , m_geometry(geometry)
    , m_place(place)
    , m_comms(comms)
    , m_maxContext(max_context)
    , m_log(log)
    , m_mode(strategy.tensor_mode)
    , m_head(weights, geometry.vocab_padded, strategy.tensor_size(), place.tensor)
{
    const ModelSpec& m = m_model;
    const auto& shape = strategy.tensor_shape;
    const int u = place.tensor;
    if (m_mode == TensorMode::WeightStationary2D) {
        m_q1 = shape[0];
        m_q2 = shape[1];
        m_i = u / m_q2;
        m_j = u % m_q2;
    } else {
        m_q = shape.back();
        m_depth = shape.size() == 3 ? shape[0] : 1;
        m_l = shape.size() == 3 ? u / (m_q * m_q) : 0;
        m_i = (u / m_q) % m_q;
        m_j = u % m_q;
    }
    const std::int64_t h = m.hidden;
    const int hp = geometry.head_parts;
    const int T = strategy.tensor_size();
    const int parts = m_mode == TensorMode::WeightStationary2D ? T : m_q; // hidden / FFN chunks
    const std::int64_t cw = h / parts;
    const auto split = strategy.resolved_stage_layers(m.layers);
    for (int s = 0; s < place.stage; ++s)
        m_firstLayer += split[s];
    const std::int64_t seqs = geometry.batch_per_replica / geometry.token_parts;

    // The block this rank keeps of a [K, N] weight, per layout and orientation.
    auto store = [&](const Matrix& W, bool orientation_a) {
        const std::int64_t K = W.rows;
        const std::int64_t N = W.cols;
        switch (m_mode) {
        case TensorMode::WeightStationary2D:
            return orientation_a ? block(W, m_i * K / m_q1, (m_i + 1) * K / m_q1, m_j * N / m_q2, (m_j + 1) * N / m_q2)
                                 : block(W, m_j * K / m_q2, (m_j + 1) * K / m_q2, m_i * N / m_q1, (m_i + 1) * N / m_q1);
        case TensorMode::Cube3D: {
            const std::int64_t kb = orientation_a ? m_l : m_j;
            const std::int64_t nb = orientation_a ? m_j : m_l;
            const std::int64_t r0 = kb * K / m_q + m_i * K / (m_q * m_q);
            return block(W, r0, r0 + K / (m_q * m_q), nb * N / m_q, (nb + 1) * N / m_q);
        }
        default: // SUMMA and 2.5D: block (i, j), replicated over depth
            return block(W, m_i * K / m_q, (m_i + 1) * K / m_q, m_j * N / m_q, (m_j + 1) * N / m_q);
        }
    };
    for (int l = m_firstLayer; l < m_firstLayer + split[place.stage]; ++l) {
        Layer L;
        L.index = l;
        auto name = [&](const char* n) { return ModelWeights::layer(l, n); };
        const int chunk = col_chunk();
        L.input_norm = bias_chunk(weights.get(name("input_norm")), parts, chunk);
        L.input_norm_bias = bias_chunk(weights.get_or_empty(name("input_norm.bias")), parts, chunk);
        L.post_norm = bias_chunk(weights.get(name("post_attention_norm")), parts, chunk);
        L.post_norm_bias = bias_chunk(weights.get_or_empty(name("post_attention_norm.bias")), parts, chunk);
        if (m.qk_norm) {
            L.q_norm = weights.get(name("q_norm"));
            L.k_norm = weights.get(name("k_norm"));
        }
        const int a_l = geometry.heads_local;
        const int g_l = geometry.kv_heads_local;
        const Matrix qkv = fuse_heads(weights.get(name("q")), weights.get(name("k")), weights.get(name("v")), m, hp, a_l, g_l);
        L.qkv_width = qkv.cols;
        L.qkv = store(qkv, true);
        if (m.qkv_bias)
            L.qkv_bias = bias_chunk(fuse_heads(weights.get(name("q.bias")), weights.get(name("k.bias")),
                                               weights.get(name("v.bias")), m, hp, a_l, g_l),
                                    hp, output_chunk());
        L.o = store(weights.get(name("o")), false);
        L.o_bias = bias_chunk(weights.get_or_empty(name("o.bias")), parts, chunk);
        const Matrix gate = weights.get_or_empty(name("mlp.gate"));
        L.gate_up = store(fuse_chunks(gate.data.empty() ? nullptr : &gate, weights.get(name("mlp.up")), parts), true);
        if (m.mlp_bias) {
            const Matrix gate_bias = weights.get_or_empty(name("mlp.gate.bias"));
            L.gate_up_bias = bias_chunk(fuse_chunks(gate_bias.data.empty() ? nullptr : &gate_bias,
                                                    weights.get(name("mlp.up.bias")), parts),
                                        parts, output_chunk());
        }
        L.down = store(weights.get(name("mlp.down")), false);
        L.down_bias = bias_chunk(weights.get_or_empty(name("mlp.down.bias")), parts, chunk);
        const std::size_t cache = std::size_t(seqs) * max_context * geometry.kv_heads_local * m.head_dim;
        L.k_cache.assign(cache, 0.0f);
        L.v_cache.assign(cache, 0.0f);
        m_layers.push_back(std::move(L));
    }
    m_embed = weights.get("embed").slice_cols(col_chunk() * cw, (col_chunk() + 1) * cw);
    if (m.position == PositionKind::Learned)
        m_positions = weights.get("positions").slice_cols(col_chunk() * cw, (col_chunk() + 1) * cw);
}

int GridModel::row_block() const
{
    switch (m_mode) {
    case TensorMode::WeightStationary2D: return 0;
    case TensorMode::Cube3D: return m_i * m_q + m_j;
    case TensorMode::Tesseract25D: return m_l * m_q + m_i;
    default: return m_i;
    }
}

int GridModel::output_chunk() const
{
    return m_mode == TensorMode::WeightStationary2D ? m_j * m_q1 + m_i : m_j;
}

int GridModel::col_chunk() const
{
    switch (m_mode) {
    case TensorMode::WeightStationary2D: return m_i * m_q2 + m_j;
    case TensorMode::Cube3D: return m_l;
    default: return m_j;
    }
}

void GridModel::grid_norm(Vec& x, const Matrix& weight, const Matrix& bias, std::int64_t rows) const
{
    const ModelSpec& m = m_model;
    const std::int64_t cw = weight.cols;
    const bool layer_norm = m.norm == NormKind::LayerNorm;
    const int stats = layer_norm ? 2 : 1;
    Communicator* group = m_mode == TensorMode::WeightStationary2D ? m_comms.tp
                          : m_mode == TensorMode::Cube3D           ? m_comms.depth
                                                                   : m_comms.row;
    // Padded to a multiple of the group, as the planner prices it: equal ring chunks.
    const std::int64_t n = group->size();
    Vec sums(std::size_t((rows * stats + n - 1) / n * n), 0.0f);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cw; ++c) {
            const float v = x[r * cw + c];
            sums[r * stats] += v * v;
            if (layer_norm)
                sums[r * stats + 1] += v;
        }
    group->all_reduce(sums);
    const double h = double(m.hidden);
    for (std::int64_t r = 0; r < rows; ++r) {
        const double mean = layer_norm ? sums[r * stats + 1] / h : 0.0;
        const double var = sums[r * stats] / h - mean * mean;
        const float scale = float(1.0 / std::sqrt(var + 1e-5));
        for (std::int64_t c = 0; c < cw; ++c)
            x[r * cw + c] = float((x[r * cw + c] - mean) * scale) * weight.data[c] + (bias.data.empty() ? 0.0f : bias.data[c]);
    }
}

GridModel::Vec GridModel::linear(const Vec& x, const Matrix& w, std::int64_t rows, std::int64_t K, std::int64_t N,
                                 bool orientation_a, OpName op)
{
    Vec y;
    switch (m_mode) {
    case TensorMode::WeightStationary2D: {
        const int gather = orientation_a ? m_q2 : m_q1;
        const int scatter = orientation_a ? m_q1 : m_q2;
        Communicator* along = orientation_a ? m_comms.row : m_comms.col;
        Communicator* across = orientation_a ? m_comms.col : m_comms.row;
        Vec blocks(x.size() * gather);
        along->all_gather(x, blocks);
        const Vec input = interleave(blocks, gather, rows, std::int64_t(x.size()) / rows);
        Vec partial(std::size_t(rows * (N / gather)));
        {
            ScopedOp timer(m_log, op.name, op.kind, op.layer);
            gemm(input, w.data, partial, rows, K / scatter, N / gather);
        }
        y.resize(partial.size() / scatter);
        across->reduce_scatter(split_columns(partial, scatter, rows, N / gather / scatter), y);
        break;
    }
    case TensorMode::Cube3D: {
        Communicator* x_group = orientation_a ? m_comms.row : m_comms.depth;
        Communicator* y_group = orientation_a ? m_comms.depth : m_comms.row;
        Vec input(x.size() * m_q);
        x_group->all_gather(x, input); // row pieces: plain concatenation
        Vec weight(w.data.size() * m_q);
        m_comms.col->all_gather(w.data, weight);
        Vec partial(std::size_t(rows * m_q * (N / m_q)));
        {
            ScopedOp timer(m_log, op.name, op.kind, op.layer);
            gemm(input, weight, partial, rows * m_q, K / m_q, N / m_q);
        }
        y.resize(partial.size() / m_q);
        y_group->reduce_scatter(partial, y);
        break;
    }
    default: { // SUMMA inside each depth layer
        y.assign(std::size_t(rows * (N / m_q)), 0.0f);
        Vec xk(std::size_t(rows * (K / m_q)));
        Vec wk(w.data.size());
        for (int k = 0; k < m_q; ++k) {
            if (m_j == k)
                xk = x;
            m_comms.row->broadcast(xk, k);
            if (m_i == k)
                wk = w.data;
            m_comms.col->broadcast(wk, k);
            ScopedOp timer(m_log, op.name, op.kind, op.layer);
            gemm(xk, wk, y, rows, K / m_q, N / m_q, true);
        }
        break;
    }
    }
    return y;
}

} // namespace shard::cpu
