#include "layer_grid.h"

namespace shard {

int grid_hidden_parts(const Strategy& s)
{
    switch (s.tensor_mode) {
    case TensorMode::Summa2D:
    case TensorMode::Tesseract25D:
    case TensorMode::Cube3D:
        return s.tensor_shape.back();
    case TensorMode::WeightStationary2D:
        return s.tensor_size();
    default:
        return 1;
    }
}

std::int64_t hidden_shard_elements(const StepBuilder& b, const StepShape& step)
{
    const Strategy& s = b.strategy();
    const std::int64_t M = step.tokens();
    const std::int64_t h = b.model().hidden;
    const int t = b.geometry().t;
    switch (s.tensor_mode) {
    case TensorMode::MegatronSP:
        return M / t * h;
    case TensorMode::Megatron1D:
    case TensorMode::Column1D:
        return s.attention == AttentionMode::Data ? M / t * h : M * h;
    case TensorMode::Summa2D:
    case TensorMode::Tesseract25D:
    case TensorMode::Cube3D:
        return M / b.geometry().token_parts * (h / grid_hidden_parts(s));
    case TensorMode::WeightStationary2D:
        return M * (h / t);
    default:
        return M * h;
    }
}

namespace {

using Writer = StepBuilder::Writer;

// Axis names and strides of the grid: SUMMA [row, col]; 2.5D [depth, row, col]; 3D [z, row, col].
struct Grid {
    int q = 1; // row / column size
    int depth = 1; // 2.5D depth or 3D z size
    int row_stride = 1;
    int col_stride = 1;
    int z_stride = 1;
};

Grid grid_of(const StepBuilder& b)
{
    const Strategy& s = b.strategy();
    Grid g;
    const int rank = int(s.tensor_shape.size());
    g.q = s.tensor_shape.back();
    g.col_stride = b.mesh().tensor_axis_stride(rank - 1);
    g.row_stride = b.mesh().tensor_axis_stride(rank - 2);
    if (rank == 3) {
        g.depth = s.tensor_shape[0];
        g.z_stride = b.mesh().tensor_axis_stride(0);
    }
    return g;
}

// SUMMA on one q x q grid for `rows` token rows per device: q broadcasts of X blocks along
// the row, q broadcasts of W blocks down the column, accumulated in place.
void summa_linear(Writer& w, const Grid& g, const char* name, OpKind kind, std::int64_t rows, std::int64_t K,
                  std::int64_t N)
{
    const int e = w.b.act_bytes();
    const int q = g.q;
    w.collective(std::string(name) + ".x", kind, CollectiveKind::Broadcast, "tp_col", q, g.col_stride,
                 rows * (K / q) * e, q);
    w.collective(std::string(name) + ".w", kind, CollectiveKind::Broadcast, "tp_row", q, g.row_stride,
                 (K / q) * (N / q) * e, q);
    OpCost& op = w.gemm(name, kind, rows, K, N / q, (K / q) * (N / q));
    op.gathered_bytes = 2 * (K / q) * (N / q) * e; // double-buffered incoming W block
}

// 2D weight-stationary linear on q1 x q2 (rows i on tp_row, columns j on tp_col).
// Orientation A gathers X over j and reduce-scatters Y over i; B swaps the axes, so a
// pair of linears returns the activations to the layout they started in.
void stationary_linear(Writer& w, const char* name, OpKind kind, std::int64_t M, std::int64_t K, std::int64_t N,
                       bool orientation_a)
{
    const Strategy& s = w.b.strategy();
    const int e = w.b.act_bytes();
    const int q1 = s.tensor_shape[0];
    const int q2 = s.tensor_shape[1];
    const int gather = orientation_a ? q2 : q1;
    const int scatter = orientation_a ? q1 : q2;
    const char* gather_axis = orientation_a ? "tp_col" : "tp_row";
    const char* scatter_axis = orientation_a ? "tp_row" : "tp_col";
    const int gather_stride = orientation_a ? 1 : q2;
    const int scatter_stride = orientation_a ? q2 : 1;
    w.collective(std::string(name) + ".x", kind, CollectiveKind::AllGather, gather_axis, gather, gather_stride,
                 M * (K / scatter) * e);
    w.gemm(name, kind, M, K / scatter, N / gather, (K / scatter) * (N / gather));
    w.collective(std::string(name) + ".y", kind, CollectiveKind::ReduceScatter, scatter_axis, scatter, scatter_stride,
                 M * (N / gather) * e);
}

// 3D cube linear: AllGather X over one in-plane axis, AllGather W over the row axis,
// ReduceScatter Y over the third. Orientation B swaps the X-gather and Y-scatter axes.
void cube_linear(Writer& w, const Grid& g, const char* name, OpKind kind, std::int64_t M, std::int64_t K,
                 std::int64_t N, bool orientation_a)
{
    const int e = w.b.act_bytes();
    const int q = g.q;
    const std::int64_t rows = M / q;
    const char* x_axis = orientation_a ? "tp_col" : "tp_z";
    const char* y_axis = orientation_a ? "tp_z" : "tp_col";
    const int x_stride = orientation_a ? g.col_stride : g.z_stride;
    const int y_stride = orientation_a ? g.z_stride : g.col_stride;
    w.collective(std::string(name) + ".x", kind, CollectiveKind::AllGather, x_axis, q, x_stride, rows * (K / q) * e);
    w.collective(std::string(name) + ".w", kind, CollectiveKind::AllGather, "tp_row", q, g.row_stride,
                 (K / q) * (N / q) * e);
    OpCost& op = w.gemm(name, kind, rows, K / q, N / q, (K / q) * (N / q) / q);
    op.gathered_bytes = (K / q) * (N / q) * e;
    w.collective(std::string(name) + ".y", kind, CollectiveKind::ReduceScatter, y_axis, q, y_stride,
                 rows * (N / q) * e);
}

} // namespace

void grid_dense_layer(const StepBuilder& b, BlockCost& block, const StepShape& step)
{
    Writer w(block, b);
    const ModelSpec& m = b.model();
    const ShardGeometry& geo = b.geometry();
    const Strategy& s = b.strategy();
    const int e = b.act_bytes();
    const std::int64_t M = step.tokens();
    const std::int64_t h = m.hidden;
    const std::int64_t d = m.head_dim;
    const std::int64_t f = m.ffn;
    const std::int64_t gm = m.gated_mlp ? 2 : 1;
    const int hp = geo.head_parts;
    // Q, K, V widths summed over all head parts (replicated KV heads count each copy).
    const std::int64_t qkv_total = std::int64_t(m.heads + 2 * geo.kv_heads_local * hp) * d;
    const std::int64_t attn_total = std::int64_t(m.heads) * d;
    const std::int64_t seqs = step.seqs / geo.token_parts;
    const Grid g = grid_of(b);
    const int hidden_parts = grid_hidden_parts(s);
    const std::int64_t rows = M / geo.token_parts; // tokens a device holds between layers
    const double norm_bytes = 2.0 * rows * (h / hidden_parts) * e;

    auto norm = [&](const char* name, std::int64_t weight) {
        w.elementwise(name, OpKind::Norm, norm_bytes, weight);
        switch (s.tensor_mode) {
        case TensorMode::WeightStationary2D:
            w.norm_stats(name, "tensor", geo.t, 1, M);
            break;
        case TensorMode::Cube3D:
            w.norm_stats(name, "tp_z", g.q, g.z_stride, rows);
            break;
        default:
            w.norm_stats(name, "tp_col", g.q, g.col_stride, rows);
            break;
        }
    };
    auto attention = [&] {
        if (m.position == PositionKind::Rotary || m.qk_norm)
            w.elementwise("rotary", OpKind::QKV, 2.0 * rows * (geo.heads_local + geo.kv_heads_local) * d * e);
        w.attention_core(step, seqs, geo.heads_local, geo.kv_heads_local);
        w.kv_cache(step);
    };

    const std::int64_t norm_weight = m.norm_params() / hidden_parts;
    switch (s.tensor_mode) {
    case TensorMode::Summa2D:
    case TensorMode::Tesseract25D:
        norm("input_norm", norm_weight);
        summa_linear(w, g, "qkv_proj", OpKind::QKV, rows, h, qkv_total);
        attention();
        summa_linear(w, g, "o_proj", OpKind::OutProj, rows, attn_total, h);
        norm("post_attention_norm", norm_weight * (m.norms_per_layer - 1));
        summa_linear(w, g, "gate_up_proj", OpKind::MlpUp, rows, h, gm * f);
        w.elementwise("activation", OpKind::Activation, double(rows) * (gm + 1) * (f / g.q) * e);
        summa_linear(w, g, "down_proj", OpKind::MlpDown, rows, f, h);
        break;
    case TensorMode::WeightStationary2D:
        norm("input_norm", norm_weight);
        stationary_linear(w, "qkv_proj", OpKind::QKV, M, h, qkv_total, true);
        attention();
        stationary_linear(w, "o_proj", OpKind::OutProj, M, attn_total, h, false);
        norm("post_attention_norm", norm_weight * (m.norms_per_layer - 1));
        stationary_linear(w, "gate_up_proj", OpKind::MlpUp, M, h, gm * f, true);
        w.elementwise("activation", OpKind::Activation, double(M) * (gm + 1) * (f / geo.t) * e);
        stationary_linear(w, "down_proj", OpKind::MlpDown, M, f, h, false);
        break;
    case TensorMode::Cube3D:
        norm("input_norm", norm_weight);
        cube_linear(w, g, "qkv_proj", OpKind::QKV, M, h, qkv_total, true);
        attention();
        cube_linear(w, g, "o_proj", OpKind::OutProj, M, attn_total, h, false);
        norm("post_attention_norm", norm_weight * (m.norms_per_layer - 1));
        cube_linear(w, g, "gate_up_proj", OpKind::MlpUp, M, h, gm * f, true);
        w.elementwise("activation", OpKind::Activation, double(rows) * (gm + 1) * (f / g.q) * e);
        cube_linear(w, g, "down_proj", OpKind::MlpDown, M, f, h, false);
        break;
    default:
        break;
    }
    w.elementwise("residual", OpKind::MlpDown, 2 * 3.0 * rows * (h / hidden_parts) * e);
}

} // namespace shard
