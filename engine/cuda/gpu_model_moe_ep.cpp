// GpuModel's MoE block with expert parallelism (ep > 1, inside the tensor group): as the
// CPU ShardedModel's ep > 1 branch and the planner's moe_part. Each rank holds a share of
// the rows (its SP rows, or a padded 1/t of them that attention reduce-scattered into xs),
// normalises and (with expert TP) gathers its etp group's rows, routes them in fp32, sends
// every routed slot to the rank that holds its expert (all-to-all of variable chunks, sized
// by an exchange of per-expert counts read back on the host), runs its local experts on
// what arrived, sends the results back, sums each row's k results with their weights
// (reduce-scattered over etp), adds the shared experts, and without SP gathers the rows
// back for the next attention.
#include "gpu_model_impl.h"

#include "gpu_blas.h"

#include <numeric>

namespace shard::cuda {

namespace {

// The ranks this driver runs whose index satisfies `keep`, in index order.
template<class F> std::vector<GpuRank*> members(std::vector<GpuRank>& ranks, F keep)
{
    std::vector<GpuRank*> out;
    for (auto& R : ranks)
        if (keep(R.index))
            out.push_back(&R);
    return out;
}

// What one rank sends to and receives from each EP peer, in elements.
struct Exchange {
    std::vector<std::int64_t> send_counts, send_offsets, recv_counts, recv_offsets;
    std::vector<std::int64_t> recv_rows; // rows from each peer
};

} // namespace

void GpuModel::Impl::moe_block_ep(int layer, int T)
{
    const GpuDType type = options.dtype;
    const MoeSpec& moe = *model.moe;
    const std::int64_t M = std::int64_t(batch) * T;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    const int E = moe.experts;
    const int k = moe.experts_per_token;
    const int EL = experts_local;
    const std::int64_t held = moe_rows(M); // rows this rank holds
    const std::int64_t token_rows = held * etp; // rows it routes (its etp group's)
    const int slots = int(token_rows) * k;
    const bool layer_norm = model.norm == NormKind::LayerNorm;
    // The rows a rank holds here: its SP rows, or (one rank per replica) all of them, else
    // the padded 1/t shard attention left in xs.
    const bool rows_in_x = sp || t == 1;
    void* GpuRank::*rows = rows_in_x ? &GpuRank::x : &GpuRank::xs;

    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        op(R, "post_attention_norm", "norm", layer, [&] {
            kernels::norm(type, R.hn_local, R.*rows, L.post_norm, L.post_norm_b, layer_norm, held, h, 1e-5f, R.stream);
        });
    }
    if (etp > 1) {
        collective(
            CollectiveKind::AllGather, token_rows * h * e, "experts.gather",
            [&] {
                for (int s = 0; s < t / etp; ++s) // this replica's expert shards
                    if (DeviceCollectives* group = expert_tp_groups[std::size_t(s)]) {
                        const auto g = members(ranks, [&](int i) { return i / etp == s; });
                        group->all_gather(pointers(g, [](GpuRank& R) { return R.hn_local; }),
                                          pointers(g, [](GpuRank& R) { return R.tokens_ep; }), held * h, type);
                    }
            },
            "etp", etp);
    }
    void* GpuRank::*tokens = etp > 1 ? &GpuRank::tokens_ep : &GpuRank::hn_local;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        op(R, "router", "router", layer, [&] {
            kernels::convert_to_f32(type, R.hn_f32, R.*tokens, token_rows * h, R.stream);
            gemm(R.blas->get(), GpuDType::F32, R.hn_f32, L.router, R.router_logits, token_rows, h, E);
            kernels::route_top_k(R.router_logits, int(token_rows), E, k, R.slot_experts, R.slot_weights, R.stream);
            kernels::group_by_expert(R.slot_experts, slots, E, R.expert_counts, R.expert_offsets, R.slot_order,
                                     R.slot_position, R.stream);
            kernels::permute_rows(type, R.permuted, R.*tokens, h, R.slot_order, slots, k, R.stream);
        });
    }
    // Each rank tells each EP peer how many rows of each of the peer's experts it sends
    // (its expert counts are already [peer][local expert]): routing metadata, not priced.
    auto each_expert_group = [&](const std::function<void(DeviceCollectives&, const std::vector<GpuRank*>&)>& f) {
        for (int c = 0; c < etp; ++c)
            if (DeviceCollectives* group = expert_groups[std::size_t(c)])
                f(*group, members(ranks, [&](int i) { return i % etp == c; }));
    };
    collective(
        CollectiveKind::AllToAll, std::int64_t(E) * 4, "experts.routing",
        [&] {
            each_expert_group([&](DeviceCollectives& group, const std::vector<GpuRank*>& g) {
                group.all_to_all(pointers(g, [](GpuRank& R) { return static_cast<void*>(R.expert_counts); }),
                                 pointers(g, [](GpuRank& R) { return static_cast<void*>(R.peer_counts); }), EL,
                                 GpuDType::F32);
            });
        },
        "ep", ep, true, true, etp);
    // The host sizes the transfers and the expert GEMMs (why EP layers are never captured).
    std::vector<Exchange> exchange(ranks.size());
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        SHARD_CUDA_CHECK(cudaMemcpyAsync(R.host_offsets.data(), R.expert_offsets, std::size_t(E + 1) * sizeof(int),
                                         cudaMemcpyDeviceToHost, R.stream));
        SHARD_CUDA_CHECK(cudaMemcpyAsync(R.host_counts.data(), R.peer_counts, std::size_t(E) * sizeof(int),
                                         cudaMemcpyDeviceToHost, R.stream));
        SHARD_CUDA_CHECK(cudaStreamSynchronize(R.stream));
        const int* received = static_cast<const int*>(R.host_counts.data());
        Exchange& x = exchange[std::size_t(R.slot)];
        std::int64_t offset = 0;
        for (int p = 0; p < ep; ++p) {
            const std::int64_t first = R.host_offsets[std::size_t(p * EL)];
            x.send_offsets.push_back(first * h);
            x.send_counts.push_back((R.host_offsets[std::size_t((p + 1) * EL)] - first) * h);
            const std::int64_t rows_from = std::accumulate(received + p * EL, received + (p + 1) * EL, std::int64_t(0));
            x.recv_rows.push_back(rows_from);
            x.recv_offsets.push_back(offset * h);
            x.recv_counts.push_back(rows_from * h);
            offset += rows_from;
        }
    }
    auto counts_of = [&](const std::vector<GpuRank*>& g, std::vector<std::int64_t> Exchange::*field) {
        DeviceCollectives::Counts out;
        for (GpuRank* R : g)
            out.push_back(exchange[std::size_t(R->slot)].*field);
        return out;
    };
    const std::int64_t slot_bytes = std::int64_t(slots) * h * e;
    collective(
        CollectiveKind::AllToAll, slot_bytes, "experts.dispatch",
        [&] {
            each_expert_group([&](DeviceCollectives& group, const std::vector<GpuRank*>& g) {
                group.all_to_allv(pointers(g, [](GpuRank& R) { return R.permuted; }),
                                  counts_of(g, &Exchange::send_counts), counts_of(g, &Exchange::send_offsets),
                                  pointers(g, [](GpuRank& R) { return R.received; }),
                                  counts_of(g, &Exchange::recv_counts), counts_of(g, &Exchange::recv_offsets), type);
            });
        },
        "ep", ep, false, true, etp); // EP peers sit etp apart
    // What arrived from each peer is in expert order: one segment per local expert, run in
    // place (results at the same rows).
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        const int* received = static_cast<const int*>(R.host_counts.data());
        op(R, "experts", "experts", layer, [&] {
            std::int64_t first = 0;
            for (int p = 0; p < ep; ++p)
                for (int x = 0; x < EL; ++x) {
                    const std::int64_t count = received[p * EL + x];
                    if (count > 0)
                        run_expert(R, L, x, static_cast<const char*>(R.received) + first * h * e,
                                   static_cast<char*>(R.results) + first * h * e, count);
                    first += count;
                }
        });
    }
    // Back the same way: every slot returns to its sender, in the order it was sent.
    collective(
        CollectiveKind::AllToAll, slot_bytes, "experts.combine",
        [&] {
            each_expert_group([&](DeviceCollectives& group, const std::vector<GpuRank*>& g) {
                group.all_to_allv(pointers(g, [](GpuRank& R) { return R.results; }),
                                  counts_of(g, &Exchange::recv_counts), counts_of(g, &Exchange::recv_offsets),
                                  pointers(g, [](GpuRank& R) { return R.returned; }),
                                  counts_of(g, &Exchange::send_counts), counts_of(g, &Exchange::send_offsets), type);
            });
        },
        "ep", ep, false, true, etp); // EP peers sit etp apart
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, "weighted_sum", "experts", layer, [&] {
            kernels::unpermute_rows(type, R.y_tokens, R.returned, h, R.slot_position, R.slot_experts, R.slot_weights,
                                    int(token_rows), k, 0, E, R.stream);
        });
    }
    if (etp > 1) { // each etp slice made a partial sum of every row: sum them, keep one's own rows
        collective(
            CollectiveKind::ReduceScatter, token_rows * h * e, "experts.reduce",
            [&] {
                for (int s = 0; s < t / etp; ++s) // this replica's expert shards
                    if (DeviceCollectives* group = expert_tp_groups[std::size_t(s)]) {
                        const auto g = members(ranks, [&](int i) { return i / etp == s; });
                        group->reduce_scatter(pointers(g, [](GpuRank& R) { return R.y_tokens; }),
                                              pointers(g, [](GpuRank& R) { return R.y_local; }), held * h, type);
                    }
            },
            "etp", etp);
    }
    void* GpuRank::*y = etp > 1 ? &GpuRank::y_local : &GpuRank::y_tokens;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        if (moe.shared_experts > 0) { // whole on every rank, on the rows it holds
            // Its own rows' fp32 copy sits at its place among the etp group's.
            const float* own = R.hn_f32 + std::int64_t(etp > 1 ? R.index % etp : 0) * held * h;
            op(R, "shared_experts", "shared_experts", layer,
               [&] { add_shared_experts(R, L, R.hn_local, own, held, R.*y); });
        }
        op(R, "residual_add", "residual", layer, [&] { kernels::add(type, R.*rows, R.*y, held * h, R.stream); });
    }
    if (!rows_in_x) { // back to the replicated rows attention expects
        collective(CollectiveKind::AllGather, held * t * h * e, "experts.restore", [&] {
            comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return R.xs; }),
                             each_ptr(ranks, [](GpuRank& R) { return R.x; }), held * h, type);
        });
    }
}

} // namespace shard::cuda
