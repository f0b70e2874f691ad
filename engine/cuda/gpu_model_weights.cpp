// GpuModel: each rank's weights (the slices run/layer_shard.h and run/grid_layout.h give it,
// as the CPU executor's), uploaded in the run's dtype, and the workspace carved.
#include "gpu_model_impl.h"

#include "kernels.h"

#include "run/layer_shard.h"

#include <algorithm>
#include <cstring>

namespace shard::cuda {

namespace {

using run::Matrix;

// Host staging of one rank's weights: matrices that become `dtype`, and fp32 vectors
// (norm weights, biases) that stay fp32.
struct HostPack {
    std::vector<float> typed;
    std::vector<float> floats;

    std::size_t add_typed(const Matrix& m)
    {
        const std::size_t at = typed.size();
        typed.insert(typed.end(), m.data.begin(), m.data.end());
        return at;
    }
    // npos for an absent (empty) tensor.
    std::size_t add_float(const Matrix& m)
    {
        if (m.data.empty())
            return std::size_t(-1);
        const std::size_t at = floats.size();
        floats.insert(floats.end(), m.data.begin(), m.data.end());
        return at;
    }
};

// [rows, a | b | ...] from matrices of the same row count.
Matrix concat_cols(const std::vector<const Matrix*>& parts)
{
    Matrix out;
    out.rows = parts.front()->rows;
    for (const Matrix* p : parts)
        out.cols += p->cols;
    out.data.resize(std::size_t(out.rows * out.cols));
    std::int64_t offset = 0;
    for (const Matrix* p : parts) {
        for (std::int64_t r = 0; r < out.rows; ++r)
            std::copy_n(p->data.begin() + r * p->cols, p->cols, out.data.begin() + r * out.cols + offset);
        offset += p->cols;
    }
    return out;
}

Matrix concat_bias(const std::vector<Matrix>& parts)
{
    bool any = false;
    for (const auto& p : parts)
        any = any || !p.data.empty();
    if (!any)
        return {};
    Matrix out{1, 0, {}};
    for (const auto& p : parts)
        out.data.insert(out.data.end(), p.data.begin(), p.data.end());
    out.cols = std::int64_t(out.data.size());
    return out;
}

} // namespace

void GpuModel::Impl::load_weights(GpuRank& R)
{
    const ModelSpec& m = model;
    const int r = R.index;
    const run::TensorSlot slot{r, t};
    const TensorMode mode = plan.strategy.tensor_mode;
    HostPack pack;
    struct LayerOffsets {
        std::size_t wqkv, wo, wgu, wdown, qkv_bias, o_bias, gu_bias, down_bias, in_norm, in_norm_b, post_norm,
            post_norm_b, q_norm, k_norm;
        std::size_t router = std::size_t(-1), shared_gu = std::size_t(-1), shared_down = std::size_t(-1),
                    shared_gate = std::size_t(-1);
        std::vector<std::size_t> expert_gu, expert_down;
    };
    // An MLP's [gate | up] (up alone where there is no gate) and down.
    auto add_mlp = [&](const run::MlpShard& mlp, std::size_t& gu, std::size_t& down) {
        gu = mlp.gate.data.empty() ? pack.add_typed(mlp.up) : pack.add_typed(concat_cols({&mlp.gate, &mlp.up}));
        down = pack.add_typed(mlp.down);
    };
    std::vector<LayerOffsets> offsets;
    for (int l = first_layer; l < first_layer + layer_count; ++l) {
        auto name = [&](const char* n) { return run::ModelWeights::layer(l, n); };
        LayerOffsets o{};
        if (grid) { // 2D / 2.5D / 3D: the blocks GridLayout gives this rank, as the CPU GridModel
            const run::GridLayerShard G = run::grid_layer_shard(weights, *R.grid, geometry, l);
            o.wqkv = pack.add_typed(G.qkv);
            o.wo = pack.add_typed(G.o);
            o.wgu = pack.add_typed(G.gate_up);
            o.wdown = pack.add_typed(G.down);
            o.qkv_bias = pack.add_float(G.qkv_bias);
            o.o_bias = pack.add_float(G.o_bias);
            o.gu_bias = pack.add_float(G.gate_up_bias);
            o.down_bias = pack.add_float(G.down_bias);
            o.in_norm = pack.add_float(G.input_norm);
            o.in_norm_b = pack.add_float(G.input_norm_bias);
            o.post_norm = pack.add_float(G.post_norm);
            o.post_norm_b = pack.add_float(G.post_norm_bias);
            o.q_norm = pack.add_float(G.q_norm);
            o.k_norm = pack.add_float(G.k_norm);
            offsets.push_back(o);
            continue;
        }
        const run::AttentionShard a = run::attention_shard(weights, mode, geometry, slot, l);
        o.wqkv = pack.add_typed(concat_cols({&a.q, &a.k, &a.v}));
        o.qkv_bias = pack.add_float(concat_bias({a.q_bias, a.k_bias, a.v_bias}));
        o.wo = pack.add_typed(a.o);
        o.o_bias = pack.add_float(a.o_bias);
        const run::LayerNorms norms = run::layer_norms(weights, l);
        o.in_norm = pack.add_float(norms.input_norm);
        o.in_norm_b = pack.add_float(norms.input_norm_bias);
        o.post_norm = pack.add_float(norms.post_norm);
        o.post_norm_b = pack.add_float(norms.post_norm_bias);
        o.q_norm = pack.add_float(norms.q_norm);
        o.k_norm = pack.add_float(norms.k_norm);
        if (m.is_moe_layer(l)) {
            const MoeSpec& moe = *m.moe;
            o.router = pack.add_float(weights.get(name("router")));
            // The engine's experts are split as Megatron's MLP whatever the tensor mode.
            const run::ExpertSlot held = run::expert_slot(plan.strategy, geometry, replica, slot);
            o.expert_gu.resize(std::size_t(held.count));
            o.expert_down.resize(std::size_t(held.count));
            for (int x = 0; x < held.count; ++x)
                add_mlp(run::mlp_shard(weights, name(("experts." + std::to_string(held.first + x)).c_str()),
                                       moe.expert_ffn, held.parts, held.index, run::MlpSplit::Megatron, slot),
                        o.expert_gu[std::size_t(x)], o.expert_down[std::size_t(x)]);
            if (moe.shared_experts > 0)
                add_mlp(run::mlp_shard(weights, name("shared"), moe.shared_expert_ffn * moe.shared_experts,
                                       held.shared_parts, held.shared_index, run::MlpSplit::Megatron, slot),
                        o.shared_gu, o.shared_down);
            o.shared_gate = pack.add_float(weights.get_or_empty(name("shared_gate")));
            o.wgu = o.wdown = o.gu_bias = o.down_bias = std::size_t(-1);
            offsets.push_back(o);
            continue;
        }
        const run::MlpShard mlp = run::mlp_shard(weights, name("mlp"), m.ffn, t, r, run::mlp_split(mode, t), slot);
        add_mlp(mlp, o.wgu, o.wdown);
        o.gu_bias = pack.add_float(concat_bias({mlp.gate_bias, mlp.up_bias}));
        o.down_bias = pack.add_float(mlp.down_bias);
        offsets.push_back(o);
    }
    // Vocabulary-parallel embedding (first stage) and head (last stage), padding rows zero
    // (as VocabParallelHead).
    R.vocab_begin = run::vocab_begin(geometry.vocab_padded, t, r);
    constexpr std::size_t none = std::size_t(-1);
    std::size_t embed_at = none, head_at = none, positions_at = none, final_at = none, final_b_at = none;
    if (first_stage && grid) {
        // Grids split the table by hidden columns like the activations; every rank looks up
        // its own rows' chunk, with no collective.
        const std::int64_t c0 = R.grid->col_chunk() * grid_cw, c1 = c0 + grid_cw;
        embed_at = pack.add_typed(weights.get("embed").slice_cols(c0, c1));
        if (m.position == PositionKind::Learned)
            positions_at = pack.add_typed(weights.get("positions").slice_cols(c0, c1));
    } else if (first_stage) {
        embed_at = pack.add_typed(run::embedding_rows(weights, geometry.vocab_padded, t, r));
        if (m.position == PositionKind::Learned)
            positions_at = pack.add_typed(weights.get("positions"));
    }
    if (last_stage) {
        head_at = pack.add_typed(run::head_columns(weights, geometry.vocab_padded, t, r));
        final_at = pack.add_float(weights.get("final_norm"));
        final_b_at = pack.add_float(weights.get_or_empty("final_norm.bias"));
    }

    // One block: typed part, then the fp32 part.
    const std::size_t e = element_size(options.dtype);
    const std::size_t typed_bytes = (pack.typed.size() * e + 255) / 256 * 256;
    R.weight_bytes = typed_bytes + pack.floats.size() * sizeof(float);
    const std::string owner = "rank " + std::to_string(r) + " (weights)";
    R.weight_block = DeviceMemory(R.weight_bytes, R.device, owner);
    char* base = static_cast<char*>(R.weight_block.data());
    float* fbase = reinterpret_cast<float*>(base + typed_bytes);
    {
        DeviceGuard guard(R.device);
        DeviceMemory staging(pack.typed.size() * sizeof(float), R.device,
                             "rank " + std::to_string(r) + " (weight upload)");
        // Stream-ordered copies: a plain cudaMemcpy from pageable memory may return before
        // its DMA lands, and R.stream (non-blocking) would not wait for it.
        SHARD_CUDA_CHECK(cudaMemcpyAsync(staging.data(), pack.typed.data(), pack.typed.size() * sizeof(float),
                                         cudaMemcpyHostToDevice, R.stream));
        kernels::convert_from_f32(options.dtype, base, static_cast<const float*>(staging.data()),
                                  std::int64_t(pack.typed.size()), R.stream);
        if (!pack.floats.empty())
            SHARD_CUDA_CHECK(cudaMemcpyAsync(fbase, pack.floats.data(), pack.floats.size() * sizeof(float),
                                             cudaMemcpyHostToDevice, R.stream));
        SHARD_CUDA_CHECK(cudaStreamSynchronize(R.stream)); // before the host copies and staging go away
    }
    auto typed = [&](std::size_t at) -> void* { return at == none ? nullptr : base + at * e; };
    auto fp = [&](std::size_t at) -> float* { return at == none ? nullptr : fbase + at; };
    R.layers.resize(offsets.size());
    for (std::size_t l = 0; l < offsets.size(); ++l) {
        const LayerOffsets& o = offsets[l];
        GpuLayer& L = R.layers[l];
        L.wqkv = typed(o.wqkv);
        L.wo = typed(o.wo);
        L.wgu = typed(o.wgu);
        L.wdown = typed(o.wdown);
        L.qkv_bias = fp(o.qkv_bias);
        L.o_bias = fp(o.o_bias);
        L.gu_bias = fp(o.gu_bias);
        L.down_bias = fp(o.down_bias);
        L.in_norm = fp(o.in_norm);
        L.in_norm_b = fp(o.in_norm_b);
        L.post_norm = fp(o.post_norm);
        L.post_norm_b = fp(o.post_norm_b);
        L.q_norm = fp(o.q_norm);
        L.k_norm = fp(o.k_norm);
        L.router = fp(o.router);
        L.shared_gu = typed(o.shared_gu);
        L.shared_down = typed(o.shared_down);
        L.shared_gate = fp(o.shared_gate);
        for (std::size_t x = 0; x < o.expert_gu.size(); ++x) {
            L.expert_gu.push_back(typed(o.expert_gu[x]));
            L.expert_down.push_back(typed(o.expert_down[x]));
        }
    }
    R.embed = typed(embed_at);
    R.head = typed(head_at);
    R.positions = typed(positions_at);
    R.final_norm = fp(final_at);
    R.final_norm_b = fp(final_b_at);
}

void GpuModel::Impl::bind_head_workspace(GpuRank& R, Arena& a, std::int64_t attended)
{
    const std::size_t e = element_size(options.dtype);
    auto typed = [&](std::int64_t n) { return a.take(std::size_t(n) * e); };
    const std::int64_t h = model.hidden;
    const std::int64_t B = options.batch;
    const std::int64_t ctx = options.max_context;
    const std::int64_t Tmax = max_seq_tokens();
    R.last = typed(B * h);
    R.last_n = typed(B * h);
    R.logits = typed(B * vl);
    R.logits_all = typed(B * vl * t);
    R.probs = typed(std::int64_t(heads) * Tmax * ctx);
    R.scores = a.take_as<float>(std::size_t(std::int64_t(heads) * Tmax * ctx)); // prefill: heads x T x context
    R.partials =
        a.take_as<float>(std::size_t(attended * heads * kernels::attention_splits(int(ctx)) * (model.head_dim + 2)));
    R.pairs = a.take_as<float>(std::size_t(B * 2));
    R.pairs_all = a.take_as<float>(std::size_t(B * 2 * t));
    R.last_f32 = a.take_as<float>(std::size_t(B * h));
    R.tokens = a.take_as<int>(std::size_t(options.max_rows));
    R.next_tokens = a.take_as<int>(std::size_t(B));
    R.pos = a.take_as<int>(1);
    R.blas_ws = a.take(32u << 20);
}

void GpuModel::Impl::bind_workspace(GpuRank& R, Arena& a)
{
    const std::size_t e = element_size(options.dtype);
    const std::int64_t M = options.max_rows;
    // Without SP an EP MoE layer pads the rows to a multiple of t; x and part hold that many.
    const std::int64_t Mp = ep > 1 && !sp ? moe_rows(M) * t : M;
    const std::int64_t Ml = sp ? M / t : Mp;
    const std::int64_t h = model.hidden;
    const std::int64_t B = options.batch;
    const std::int64_t ctx = options.max_context;
    const std::int64_t gm = model.gated_mlp ? 2 : 1;
    auto typed = [&](std::int64_t n) { return a.take(std::size_t(n) * e); };
    if (grid) {
        bind_grid_workspace(R, a);
        return;
    }
    R.x = typed(Ml * h);
    R.hn = typed(M * h);
    R.hn_local = typed(Ml * h);
    R.qkv = typed(M * W);
    R.attn = typed(M * qw);
    R.part = typed(Mp * h);
    R.reduced = typed(Ml * h);
    R.gu = typed(M * gm * fl);
    R.act = typed(M * fl);
    R.full = typed(M * h);
    bind_head_workspace(R, a, B);
    if (column) {
        const std::int64_t widest = std::max({qw, fl, h / t}); // a rank's block of attention, MLP activation, output
        R.gathered = typed(t * M * widest);
        R.interleaved = typed(M * std::max(aw, fl * t));
        R.column_out = typed(M * (h / t));
    }
    if (model.is_moe()) {
        const MoeSpec& moe = *model.moe;
        const std::int64_t E = moe.experts;
        // EP: a rank routes its etp group's rows (held x etp), and may receive every EP
        // peer's slots (the worst case of unbalanced routing).
        const std::int64_t held = moe_rows(M);
        const std::int64_t routed = ep > 1 ? std::max(M, held * etp) : M;
        const std::int64_t slots = routed * moe.experts_per_token;
        const std::int64_t arriving = ep > 1 ? slots * ep : slots;
        R.hn_f32 = a.take_as<float>(std::size_t(routed * h));
        R.router_logits = a.take_as<float>(std::size_t(routed * E));
        R.slot_weights = a.take_as<float>(std::size_t(slots));
        R.gate_logits = a.take_as<float>(std::size_t(routed));
        R.slot_experts = a.take_as<int>(std::size_t(slots));
        R.expert_counts = a.take_as<int>(std::size_t(E));
        R.expert_offsets = a.take_as<int>(std::size_t(E + 1));
        R.slot_order = a.take_as<int>(std::size_t(slots));
        R.slot_position = a.take_as<int>(std::size_t(slots));
        R.permuted = typed(slots * h);
        R.expert_gu_ws = typed(arriving * gm * efl); // every slot may go to one expert
        R.expert_act_ws = typed(arriving * efl);
        R.expert_out = typed(slots * h);
        R.shared_gu_ws = typed(M * gm * std::max<std::int64_t>(sfl, 1));
        R.shared_act_ws = typed(M * std::max<std::int64_t>(sfl, 1));
        R.shared_out = typed(M * h);
        R.host_offsets.assign(std::size_t(E + 1), 0);
        if (ep > 1) {
            R.xs = typed(held * h);
            R.tokens_ep = typed(held * etp * h);
            R.received = typed(arriving * h);
            R.results = typed(arriving * h);
            R.returned = typed(slots * h);
            R.y_tokens = typed(routed * h);
            R.y_local = typed(held * h);
            R.peer_counts = a.take_as<int>(std::size_t(E));
        }
    }
    for (auto& L : R.layers) {
        L.k_cache = typed(B * ctx * kw);
        L.v_cache = typed(B * ctx * kw);
    }
}

} // namespace shard::cuda
