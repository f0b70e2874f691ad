// GpuModel's MoE block with tensor-parallel experts (expert parallelism 1): every rank
// routes every token, runs its 1/t slice of each expert on the rows routed to it, and the
// partial outputs are summed over the group like a Megatron MLP's. The collectives are the
// CPU ShardedModel's (ep == 1 branch) and the planner's: the norm's all-gather under
// sequence parallelism, then one all-reduce (or reduce-scatter).
#include "gpu_model_impl.h"

#include "gpu_blas.h"

namespace shard::cuda {

void GpuModel::Impl::moe_block(int layer, int T)
{
    const GpuDType type = options.dtype;
    const MoeSpec& moe = *model.moe;
    const std::int64_t M = std::int64_t(batch) * T;
    const std::int64_t h = model.hidden;
    const int E = moe.experts;
    const int k = moe.experts_per_token;
    const int slots = int(M) * k;
    const std::int64_t e = std::int64_t(element_size(type));
    normalise(layer, T, true); // every rank holds all M rows of hn (gathered under SP)
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        GpuLayer& L = layer_of(R, layer);
        // Router in fp32, as the CPU reference computes it: top-k picks must not hinge on
        // bf16 rounding of the logits.
        op(R, "router", "router", layer, [&] {
            kernels::convert_to_f32(type, R.hn_f32, R.hn, M * h, R.stream);
            gemm(R.blas->get(), GpuDType::F32, R.hn_f32, L.router, R.router_logits, M, h, E);
            kernels::route_top_k(R.router_logits, int(M), E, k, R.slot_experts, R.slot_weights, R.stream);
            kernels::group_by_expert(R.slot_experts, slots, E, R.expert_counts, R.expert_offsets, R.slot_order,
                                     R.slot_position, R.stream);
            kernels::permute_rows(type, R.permuted, R.hn, h, R.slot_order, slots, k, R.stream);
        });
        op(R, "experts", "experts", layer, [&] {
            // Each expert's rows are one segment of the permuted rows; the host needs their
            // sizes for the GEMM shapes (this is why MoE decode steps are not graph-captured).
            SHARD_CUDA_CHECK(cudaMemcpyAsync(R.host_offsets.data(), R.expert_offsets, std::size_t(E + 1) * sizeof(int),
                                             cudaMemcpyDeviceToHost, R.stream));
            SHARD_CUDA_CHECK(cudaStreamSynchronize(R.stream));
            for (int x = 0; x < E; ++x) {
                const std::int64_t first = R.host_offsets[std::size_t(x)];
                const std::int64_t rows = R.host_offsets[std::size_t(x) + 1] - first;
                if (rows > 0)
                    run_expert(R, L, x, static_cast<const char*>(R.permuted) + first * h * e,
                               static_cast<char*>(R.expert_out) + first * h * e, rows);
            }
            kernels::unpermute_rows(type, R.part, R.expert_out, h, R.slot_position, R.slot_experts, R.slot_weights,
                                    int(M), k, 0, E, R.stream);
        });
        if (moe.shared_experts > 0) {
            // sigmoid(hn . gate) per row is linear in the partial sums, so each slice gates its own.
            op(R, "shared_experts", "shared_experts", layer,
               [&] { add_shared_experts(R, L, R.hn, R.hn_f32, M, R.part); });
        }
    }
    if (t == 1) {
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "residual_add", "residual", layer, [&] { kernels::add(type, R.x, R.part, M * h, R.stream); });
        }
    } else {
        reduce_into_residual(M, nullptr, layer, "experts");
    }
    if (!sp)
        check_same("x after moe", layer, &GpuRank::x, M * h);
}

void GpuModel::Impl::run_expert(GpuRank& R, const GpuLayer& L, int expert, const void* in, void* out, std::int64_t rows)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    const bool gated = model.gated_mlp;
    const kernels::Act act = act_of(model.activation);
    gemm(R.blas->get(), type, in, L.expert_gu[std::size_t(expert)], R.expert_gu_ws, rows, h, gated ? 2 * efl : efl);
    if (gated)
        kernels::gated(type, R.expert_act_ws, R.expert_gu_ws, rows, efl, act, R.stream);
    else
        kernels::activate(type, R.expert_gu_ws, rows * efl, act, R.stream);
    gemm(R.blas->get(), type, gated ? R.expert_act_ws : R.expert_gu_ws, L.expert_down[std::size_t(expert)], out, rows,
         efl, h);
}

void GpuModel::Impl::add_shared_experts(GpuRank& R, const GpuLayer& L, const void* in, const float* in_f32,
                                        std::int64_t rows, void* out)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    const bool gated = model.gated_mlp;
    const kernels::Act act = act_of(model.activation);
    const std::int64_t width = gated ? 2 * sfl : sfl;
    gemm(R.blas->get(), type, in, L.shared_gu, R.shared_gu_ws, rows, h, width);
    if (gated)
        kernels::gated(type, R.shared_act_ws, R.shared_gu_ws, rows, sfl, act, R.stream);
    else
        kernels::activate(type, R.shared_gu_ws, rows * sfl, act, R.stream);
    gemm(R.blas->get(), type, gated ? R.shared_act_ws : R.shared_gu_ws, L.shared_down, R.shared_out, rows, sfl, h);
    if (L.shared_gate) {
        gemm(R.blas->get(), GpuDType::F32, in_f32, L.shared_gate, R.gate_logits, rows, h, 1);
        kernels::scale_rows_by_sigmoid(type, R.shared_out, R.gate_logits, rows, h, R.stream);
    }
    kernels::add(type, out, R.shared_out, rows * h, R.stream);
}

} // namespace shard::cuda
