#include "grid_model.h"

#include "detail/grid_layer.h"
#include "kernels.h"
#include "run/grid_layout.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace shard::cpu {

GridModel::~GridModel() = default;

GridModel::GridModel(const ModelWeights& weights, const Strategy& strategy, const ShardGeometry& geometry,
                     RankPlace place, RankComms comms, int max_context, RankLog* log)
    : RankModelBase(weights, strategy, geometry, place, comms, max_context, log)
    , m_mode(strategy.tensor_mode)
    , m_grid(strategy, place.tensor)
{
    const ModelSpec& m = m_model;
    m_q = m_grid.q();
    m_q1 = m_grid.q1();
    m_q2 = m_grid.q2();
    m_depth = m_grid.depth();
    m_i = m_grid.i();
    m_j = m_grid.j();
    m_l = m_grid.l();
    const std::int64_t h = m.hidden;
    const std::int64_t cw = h / m_grid.parts();
    const auto split = strategy.resolved_stage_layers(m.layers);
    for (int s = 0; s < place.stage; ++s)
        m_firstLayer += split[s];
    const std::int64_t seqs = geometry.batch_per_replica / geometry.token_parts;
    for (int l = m_firstLayer; l < m_firstLayer + split[place.stage]; ++l) {
        Layer L;
        static_cast<GridLayerShard&>(L) = grid_layer_shard(weights, m_grid, geometry, l);
        L.index = l;
        const std::size_t cache = std::size_t(seqs) * max_context * geometry.kv_heads_local * m.head_dim;
        L.k_cache.assign(cache, 0.0f);
        L.v_cache.assign(cache, 0.0f);
        m_layers.push_back(std::move(L));
    }
    m_embed = weights.get("embed").slice_cols(col_chunk() * cw, (col_chunk() + 1) * cw);
    if (m.position == PositionKind::Learned)
        m_positions = weights.get("positions").slice_cols(col_chunk() * cw, (col_chunk() + 1) * cw);
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
            x[r * cw + c] =
                float((x[r * cw + c] - mean) * scale) * weight.data[c] + (bias.data.empty() ? 0.0f : bias.data[c]);
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
