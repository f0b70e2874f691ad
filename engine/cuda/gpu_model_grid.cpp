// GpuModel under the 2D / 2.5D / 3D layouts (SUMMA, weight-stationary, Tesseract, the 3D
// cube): the CPU GridModel's forward on the GPU, with the same blocks (GridLayout), the
// same groups and the collectives the planner's layer_grid prices. Between layers a rank
// holds a block of rows (whole sequences) and a chunk of the hidden columns; norms sum
// their row statistics over the ranks that share the rows; the embedding is split by
// columns (no collective); the head gathers every rank's chunk of the last rows.
#include "gpu_model_impl.h"

#include "kernels.h"

namespace shard::cuda {

std::size_t GpuModel::Impl::grid_axis(const char* name) const
{
    for (std::size_t a = 0; a < grid_axes.size(); ++a)
        if (grid_axes[a].name == name)
            return a;
    throw Error(std::string("the grid has no ") + name + " axis");
}

void GpuModel::Impl::grid_collective(std::size_t axis, CollectiveKind kind, std::int64_t payload,
                                     const std::string& name,
                                     const std::function<void(DeviceCollectives&, const std::vector<GpuRank*>&)>& run,
                                     bool fork, int root)
{
    const run::GridAxis& a = grid_axes.at(axis);
    collective(
        kind, payload, name,
        [&] {
            for (std::size_t g = 0; g < grid_groups[axis].size(); ++g) {
                DeviceCollectives* group = grid_groups[axis][g];
                if (!group)
                    continue;
                std::vector<GpuRank*> members; // this driver's ranks of the group, in group order
                for (auto& R : ranks)
                    if (run::grid_group_of(a, R.index) == int(g))
                        members.push_back(&R);
                run(*group, members);
            }
        },
        a.name.c_str(), a.size, false, fork, a.stride);
    step_collectives.back().root = root;
    step_collectives.back().grid_axis = axis;
}

void GpuModel::Impl::bind_grid_workspace(GpuRank& R, Arena& a)
{
    const std::size_t e = element_size(options.dtype);
    auto typed = [&](std::int64_t n) { return a.take(std::size_t(n) * e); };
    const Strategy& s = plan.strategy;
    const std::int64_t h = model.hidden;
    const std::int64_t B = options.batch;
    const std::int64_t Bl = (B + token_parts - 1) / token_parts; // sequences a rank holds
    const std::int64_t rows = (options.max_rows + token_parts - 1) / token_parts;
    const std::int64_t ctx = options.max_context;
    const std::int64_t gm = model.gated_mlp ? 2 : 1;
    const int parts = R.grid->parts();
    const std::int64_t f = model.ffn;
    const std::int64_t qkv_width = std::int64_t(geometry.head_parts) * W;
    R.x = typed(rows * grid_cw);
    R.hn = typed(rows * grid_cw);
    R.part = typed(rows * grid_cw);
    R.qkv = typed(rows * W);
    R.attn = typed(rows * qw);
    R.gu = typed(rows * gm * f / parts);
    R.act = typed(rows * f / parts);
    R.grid_stats = a.take_as<float>(std::size_t(2 * rows + t)); // padded to the group; the padding stays zero
    // The linears' scratch, for the widest of qkv, o, gate/up and down.
    struct Linear {
        std::int64_t K, N;
        bool orientation_a;
    };
    const Linear linears[] = {{h, qkv_width, true}, {aw, h, false}, {h, gm * f, true}, {f, h, false}};
    std::int64_t x_block = 0, w_block = 0, in = 0, weight = 0, partial = 0;
    for (const Linear& L : linears) {
        switch (s.tensor_mode) {
        case TensorMode::WeightStationary2D: {
            const int gather = L.orientation_a ? R.grid->q2() : R.grid->q1();
            const int scatter = L.orientation_a ? R.grid->q1() : R.grid->q2();
            in = std::max(in, rows * (L.K / scatter));
            partial = std::max(partial, rows * (L.N / gather));
            break;
        }
        case TensorMode::Cube3D: {
            const int q = R.grid->q();
            in = std::max(in, q * rows * (L.K / q));
            weight = std::max(weight, (L.K / q) * (L.N / q));
            partial = std::max(partial, q * rows * (L.N / q));
            break;
        }
        default: { // SUMMA, 2.5D
            const int q = R.grid->q();
            x_block = std::max(x_block, rows * (L.K / q));
            w_block = std::max(w_block, (L.K / q) * (L.N / q));
            break;
        }
        }
    }
    in = std::max(in, B * h); // the head gathers every rank's chunk of the last rows here
    for (int b = 0; b < 2; ++b) {
        R.grid_x[b] = x_block ? typed(x_block) : nullptr;
        R.grid_w[b] = w_block ? typed(w_block) : nullptr;
    }
    R.grid_in = typed(in);
    R.grid_rows = typed(in);
    R.grid_weight = weight ? typed(weight) : nullptr;
    R.grid_partial = partial ? typed(partial) : nullptr;
    R.grid_split = partial ? typed(partial) : nullptr;
    bind_head_workspace(R, a, Bl);
    for (auto& L : R.layers) {
        L.k_cache = typed(Bl * ctx * kw);
        L.v_cache = typed(Bl * ctx * kw);
    }
}

void GpuModel::Impl::grid_forward(int position, int T)
{
    if (batch % token_parts != 0)
        throw Error("a microbatch of " + std::to_string(batch) + " sequences does not split over the "
                    + std::to_string(token_parts) + " row blocks of " + plan.strategy.label());
    const std::int64_t rows = std::int64_t(batch / token_parts) * T; // rows a rank holds between layers
    const std::int64_t h = model.hidden;
    const std::int64_t f = model.ffn;
    const std::int64_t gm = model.gated_mlp ? 2 : 1;
    const GpuDType type = options.dtype;
    const int d = model.head_dim;
    if (first_stage)
        grid_embed(rows, T); // later stages find the previous stage's rows in x
    for (int l = first_layer; l < first_layer + layer_count; ++l) {
        grid_norm(l, rows, false);
        grid_linear(l, rows, h, std::int64_t(geometry.head_parts) * W, true, &GpuRank::hn, &GpuLayer::wqkv,
                    &GpuLayer::qkv_bias, &GpuRank::qkv, "qkv_proj", "qkv");
        if (model.qk_norm)
            for (auto& R : ranks) {
                DeviceGuard guard(R.device);
                const GpuLayer& L = layer_of(R, l);
                op(R, "qk_norm", "qkv", l, [&] {
                    kernels::head_norm(type, R.qkv, W, 0, rows, heads, d, L.q_norm, float(kNormEps), R.stream);
                    kernels::head_norm(type, R.qkv, W, qw, rows, kv_heads, d, L.k_norm, float(kNormEps), R.stream);
                });
            }
        attend(l, position, T, batch / token_parts);
        grid_linear(l, rows, aw, h, false, &GpuRank::attn, &GpuLayer::wo, &GpuLayer::o_bias, &GpuRank::part, "o_proj",
                    "out_proj");
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "residual_add", "residual", l, [&] { kernels::add(type, R.x, R.part, rows * grid_cw, R.stream); });
        }
        grid_norm(l, rows, true);
        grid_linear(l, rows, h, gm * f, true, &GpuRank::hn, &GpuLayer::wgu, &GpuLayer::gu_bias, &GpuRank::gu,
                    "gate_up_proj", "mlp_up");
        const std::int64_t width = f / ranks[0].grid->parts();
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "activation", "activation", l, [&] {
                if (model.gated_mlp)
                    kernels::gated(type, R.act, R.gu, rows, width, act_of(model.activation), R.stream);
                else
                    kernels::activate(type, R.gu, rows * width, act_of(model.activation), R.stream);
            });
        }
        grid_linear(l, rows, f, h, false, model.gated_mlp ? &GpuRank::act : &GpuRank::gu, &GpuLayer::wdown,
                    &GpuLayer::down_bias, &GpuRank::part, "down_proj", "mlp_down");
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "residual_add", "residual", l, [&] { kernels::add(type, R.x, R.part, rows * grid_cw, R.stream); });
        }
    }
    if (last_stage)
        head(T);
}

void GpuModel::Impl::grid_embed(std::int64_t rows, int T)
{
    const GpuDType type = options.dtype;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        // This rank's row block: its sequences' ids (decode: the tokens the last step picked).
        const std::int64_t first_row = std::int64_t(R.grid->row_block()) * rows;
        const int* ids = (feedback ? R.next_tokens + first_seq : R.tokens) + first_row;
        op(R, "embed_lookup", "embedding", -1, [&] {
            kernels::embed(type, R.x, R.embed, ids, rows, grid_cw, 0, model.vocab, R.stream);
            if (model.position == PositionKind::Learned)
                kernels::add_positions(type, R.x, R.positions, rows, grid_cw, first_row, T, R.pos, R.stream);
        });
    }
}

void GpuModel::Impl::grid_norm(int layer, std::int64_t rows, bool post)
{
    const GpuDType type = options.dtype;
    const bool layer_norm = model.norm == NormKind::LayerNorm;
    const std::int64_t stats = layer_norm ? 2 : 1;
    // The ranks that share the rows: the whole grid (weight-stationary), the depth axis (3D)
    // or the grid row (SUMMA, 2.5D); the few floats padded to a multiple of the group.
    const TensorMode mode = plan.strategy.tensor_mode;
    const bool whole = mode == TensorMode::WeightStationary2D;
    const std::size_t axis = whole ? 0 : grid_axis(mode == TensorMode::Cube3D ? "tp_z" : "tp_col");
    const std::int64_t n = whole ? t : grid_axes[axis].size;
    const std::int64_t floats = (rows * stats + n - 1) / n * n;
    const char* name = post ? "post_attention_norm" : "input_norm";
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, name, "norm", layer, [&] {
            kernels::row_stats(type, R.grid_stats, R.x, rows, grid_cw, layer_norm, R.stream);
            // The padding is summed too: zero, not what a longer step left there.
            if (floats > rows * stats)
                SHARD_CUDA_CHECK(cudaMemsetAsync(R.grid_stats + rows * stats, 0,
                                                 std::size_t(floats - rows * stats) * sizeof(float), R.stream));
        });
    }
    const std::int64_t payload = floats * 4;
    if (whole) {
        collective(
            CollectiveKind::AllReduce, payload, name,
            [&] {
                comm->all_reduce(each_ptr(ranks, [](GpuRank& R) { return static_cast<void*>(R.grid_stats); }), floats,
                                 GpuDType::F32);
            },
            "tensor", t);
    } else {
        grid_collective(axis, CollectiveKind::AllReduce, payload, name,
                        [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                            std::vector<void*> bufs;
                            for (GpuRank* R : members)
                                bufs.push_back(R->grid_stats);
                            group.all_reduce(bufs, floats, GpuDType::F32);
                        });
    }
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        op(R, name, "norm", layer, [&] {
            kernels::chunk_norm(type, R.hn, R.x, R.grid_stats, post ? L.post_norm : L.in_norm,
                                post ? L.post_norm_b : L.in_norm_b, layer_norm, rows, grid_cw, model.hidden, kNormEps,
                                R.stream);
        });
    }
}

void GpuModel::Impl::grid_gather_last(int T)
{
    // Each rank's chunk of its sequences' last rows, gathered over the whole grid and put
    // back in place: rank u's block lands at its row block's sequences, its column chunk.
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    const int Bl = batch / token_parts;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, "gather_last", "lm_head", -1, [&] { kernels::last_rows(type, R.hn, R.x, Bl, T, grid_cw, R.stream); });
    }
    collective(CollectiveKind::AllGather, std::int64_t(batch) * h * e, "final_hidden", [&] {
        comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return R.hn; }),
                         each_ptr(ranks, [](GpuRank& R) { return R.grid_in; }), Bl * grid_cw, type);
    });
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, "gather_last", "lm_head", -1, [&] {
            for (int u = 0; u < t; ++u) {
                const run::GridLayout peer(plan.strategy, u);
                SHARD_CUDA_CHECK(cudaMemcpy2DAsync(
                    static_cast<char*>(R.last)
                        + (std::int64_t(peer.row_block()) * Bl * h + peer.col_chunk() * grid_cw) * e,
                    std::size_t(h * e), static_cast<const char*>(R.grid_in) + std::int64_t(u) * Bl * grid_cw * e,
                    std::size_t(grid_cw * e), std::size_t(grid_cw * e), std::size_t(Bl), cudaMemcpyDeviceToDevice,
                    R.stream));
            }
        });
    }
}

} // namespace shard::cuda
