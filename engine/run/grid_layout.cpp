#include "grid_layout.h"

#include "core/error.h"

#include <algorithm>

namespace shard::run {

namespace {

using Vec = std::vector<float>;

Matrix block_of(const Matrix& m, const GridLayout::Block& b)
{
    return m.slice_rows(b.r0, b.r1).slice_cols(b.c0, b.c1);
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
    Matrix out{rows, width * groups, Vec(static_cast<std::size_t>(rows * width * groups))};
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
    Matrix out{up.rows, 2 * f, Vec(static_cast<std::size_t>(up.rows * 2 * f))};
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

GridLayout::GridLayout(const Strategy& strategy, int u)
    : m_mode(strategy.tensor_mode)
{
    const auto& shape = strategy.tensor_shape;
    if (tensor_rank(m_mode) < 2 || shape.size() < 2)
        throw Error("a grid layout needs a 2D, 2.5D or 3D strategy, not " + strategy.label());
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
}

int GridLayout::parts() const
{
    return m_mode == TensorMode::WeightStationary2D ? m_q1 * m_q2 : m_q;
}

int GridLayout::row_block() const
{
    switch (m_mode) {
    case TensorMode::WeightStationary2D:
        return 0;
    case TensorMode::Cube3D:
        return m_i * m_q + m_j;
    case TensorMode::Tesseract25D:
        return m_l * m_q + m_i;
    default:
        return m_i;
    }
}

int GridLayout::output_chunk() const
{
    return m_mode == TensorMode::WeightStationary2D ? m_j * m_q1 + m_i : m_j;
}

int GridLayout::col_chunk() const
{
    switch (m_mode) {
    case TensorMode::WeightStationary2D:
        return m_i * m_q2 + m_j;
    case TensorMode::Cube3D:
        return m_l;
    default:
        return m_j;
    }
}

GridLayout::Block GridLayout::weight_block(std::int64_t K, std::int64_t N, bool orientation_a) const
{
    switch (m_mode) {
    case TensorMode::WeightStationary2D:
        return orientation_a ? Block{m_i * K / m_q1, (m_i + 1) * K / m_q1, m_j * N / m_q2, (m_j + 1) * N / m_q2}
                             : Block{m_j * K / m_q2, (m_j + 1) * K / m_q2, m_i * N / m_q1, (m_i + 1) * N / m_q1};
    case TensorMode::Cube3D: {
        // K in q^2 slices: the cube's rows are gathered over i before the multiply.
        const std::int64_t kb = orientation_a ? m_l : m_j;
        const std::int64_t nb = orientation_a ? m_j : m_l;
        const std::int64_t r0 = kb * K / m_q + m_i * K / (std::int64_t(m_q) * m_q);
        return {r0, r0 + K / (std::int64_t(m_q) * m_q), nb * N / m_q, (nb + 1) * N / m_q};
    }
    default: // SUMMA and 2.5D: block (i, j), replicated over depth
        return {m_i * K / m_q, (m_i + 1) * K / m_q, m_j * N / m_q, (m_j + 1) * N / m_q};
    }
}

std::vector<GridAxis> grid_axes(const Strategy& strategy)
{
    const auto& shape = strategy.tensor_shape;
    const int rank = int(shape.size());
    std::vector<GridAxis> axes;
    for (int axis = 0; axis < rank; ++axis) {
        GridAxis a;
        a.size = shape[std::size_t(axis)];
        for (int later = axis + 1; later < rank; ++later)
            a.stride *= shape[std::size_t(later)];
        a.name = axis == rank - 1 ? "tp_col" : axis == rank - 2 ? "tp_row" : "tp_z";
        axes.push_back(a);
    }
    return axes;
}

int grid_index_in_group(const GridAxis& axis, int u)
{
    return (u / axis.stride) % axis.size;
}

int grid_group_of(const GridAxis& axis, int u)
{
    const int first = u - grid_index_in_group(axis, u) * axis.stride;
    return first / (axis.stride * axis.size) * axis.stride + first % axis.stride;
}

GridLayerShard grid_layer_shard(const ModelWeights& weights, const GridLayout& grid, const ShardGeometry& geometry,
                                int l)
{
    const ModelSpec& m = weights.model();
    const int parts = grid.parts();
    const int chunk = grid.col_chunk();
    const int hp = geometry.head_parts;
    auto name = [&](const char* n) { return ModelWeights::layer(l, n); };
    auto store = [&](const Matrix& W, bool orientation_a) {
        return block_of(W, grid.weight_block(W.rows, W.cols, orientation_a));
    };
    GridLayerShard L;
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
    const Matrix qkv =
        fuse_heads(weights.get(name("q")), weights.get(name("k")), weights.get(name("v")), m, hp, a_l, g_l);
    L.qkv_width = qkv.cols;
    L.qkv = store(qkv, true);
    if (m.qkv_bias)
        L.qkv_bias = bias_chunk(fuse_heads(weights.get(name("q.bias")), weights.get(name("k.bias")),
                                           weights.get(name("v.bias")), m, hp, a_l, g_l),
                                hp, grid.output_chunk());
    L.o = store(weights.get(name("o")), false);
    L.o_bias = bias_chunk(weights.get_or_empty(name("o.bias")), parts, chunk);
    const Matrix gate = weights.get_or_empty(name("mlp.gate"));
    L.gate_up = store(fuse_chunks(gate.data.empty() ? nullptr : &gate, weights.get(name("mlp.up")), parts), true);
    if (m.mlp_bias) {
        const Matrix gate_bias = weights.get_or_empty(name("mlp.gate.bias"));
        L.gate_up_bias = bias_chunk(
            fuse_chunks(gate_bias.data.empty() ? nullptr : &gate_bias, weights.get(name("mlp.up.bias")), parts), parts,
            grid.output_chunk());
    }
    L.down = store(weights.get(name("mlp.down")), false);
    L.down_bias = bias_chunk(weights.get_or_empty(name("mlp.down.bias")), parts, chunk);
    return L;
}

} // namespace shard::run
