// GpuModel's tensor-parallel linears: the Megatron row-parallel GEMM with its all-reduce
// (chunked behind the next chunk under --overlap), the out-projection of every 1D layout,
// and the column layout's gather, interleave, multiply and gather back.
#include "gpu_model_impl.h"

#include "gpu_blas.h"
#include "kernels.h"

namespace shard::cuda {

bool GpuModel::Impl::row_parallel(int layer, std::int64_t M, std::int64_t K, void* GpuRank::*in, void* GpuLayer::*w,
                                  const char* name, const char* kind, const char* reduce_name,
                                  const std::function<void(GpuRank&)>& fused)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    if (!overlap || sp) {
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            const GpuLayer& L = layer_of(R, layer);
            // One rank: the product accumulates straight into the residual stream.
            op(R, name, kind, layer, [&] {
                if (fused)
                    fused(R);
                gemm(R.blas->get(), type, R.*in, L.*w, t == 1 ? R.x : R.part, M, K, h, t == 1 ? 1.0f : 0.0f);
            });
        }
        return false;
    }
    // Chunked: chunk c's all-reduce (communication streams) runs while chunk c + 1
    // multiplies (compute streams). Recorded as the one all-reduce the planner prices.
    const std::int64_t e = std::int64_t(element_size(type));
    const std::int64_t chunks = std::min<std::int64_t>(kOverlapChunks, M);
    const bool measure = timed && !options.emulated; // emulated transfers are modeled
    std::vector<std::size_t> op_starts, comm_starts;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op_starts.push_back(op_begin(R));
        if (fused)
            fused(R);
    }
    for (std::int64_t c = 0; c < chunks; ++c) {
        const std::int64_t r0 = c * M / chunks, r1 = (c + 1) * M / chunks;
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            gemm(R.blas->get(), type, static_cast<const char*>(R.*in) + r0 * K * e, layer_of(R, layer).*w,
                 static_cast<char*>(R.part) + r0 * h * e, r1 - r0, K, h);
            R.chunk_ready->record(R.stream);
            SHARD_CUDA_CHECK(cudaStreamWaitEvent(R.comm_stream, R.chunk_ready->get(), 0));
            if (c == 0 && measure) {
                comm_starts.push_back(R.next_event++);
                R.events.at(comm_starts.back()).record(R.comm_stream);
            }
        }
        comm->all_reduce(
            each_ptr(ranks, [&](GpuRank& R) { return static_cast<void*>(static_cast<char*>(R.part) + r0 * h * e); }),
            (r1 - r0) * h, type);
    }
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op_end(R, op_starts[std::size_t(R.slot)], name, kind, layer);
        if (measure) {
            const std::size_t end = R.next_event++;
            R.events.at(end).record(R.comm_stream);
            R.pending_collectives.emplace_back(comm_starts[std::size_t(R.slot)], end);
        }
    }
    join_from_comm();
    step_collectives.push_back({CollectiveKind::AllReduce, M * h * e, reduce_name});
    return true;
}

void GpuModel::Impl::out_projection(int layer, std::int64_t M)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    if (column) {
        column_parallel(layer, M, qw, &GpuRank::attn, &GpuLayer::wo, &GpuLayer::o_bias, "o_proj", "out_proj",
                        "attention_out", "o_proj");
        add_residual(layer, M);
        return;
    }
    if (data) { // attention DP: the rank's own rows times the whole Wo, straight into the residual
        const std::int64_t rows = M / t;
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            const GpuLayer& L = layer_of(R, layer);
            op(R, "o_proj", "out_proj", layer, [&] {
                gemm(R.blas->get(), type, R.attn, L.wo, R.x, rows, qw, h, 1.0f);
                if (L.o_bias)
                    kernels::add_bias(type, R.x, L.o_bias, rows, h, R.stream);
            });
        }
        return;
    }
    if (row) { // this rank's slice of the attention columns times its rows of Wo, summed
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            op(R, "o_proj", "out_proj", layer, [&] {
                gemm(R.blas->get(), type, static_cast<const char*>(R.attn) + R.index * (aw / t) * e,
                     layer_of(R, layer).wo, R.part, M, aw / t, h, 0.0f, aw);
            });
        }
        reduce_into_residual(M, &GpuLayer::o_bias, layer, "out_proj");
        return;
    }
    const bool reduced =
        row_parallel(layer, M, qw, &GpuRank::attn, &GpuLayer::wo, "o_proj", "out_proj", "out_proj", {});
    if (moe_shards_rows(layer)) {
        shard_residual(layer, M);
        return;
    }
    reduce_into_residual(M, &GpuLayer::o_bias, layer, "out_proj", reduced);
}

void GpuModel::Impl::shard_residual(int layer, std::int64_t M)
{
    // Before an expert-parallel MoE layer (no SP): the partial sums are reduce-scattered in
    // padded row shards, and each rank's residual rows become its shard (xs), as the CPU
    // executor and the planner have it.
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    const std::int64_t local = moe_rows(M), padded = local * t;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        if (padded > M)
            SHARD_CUDA_CHECK(cudaMemsetAsync(static_cast<char*>(R.part) + M * h * e, 0,
                                             std::size_t((padded - M) * h * e), R.stream));
    }
    collective(CollectiveKind::ReduceScatter, padded * h * e, "out_proj", [&] {
        comm->reduce_scatter(each_ptr(ranks, [](GpuRank& R) { return R.part; }),
                             each_ptr(ranks, [](GpuRank& R) { return R.reduced; }), local * h, type);
    });
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        op(R, "residual_add", "residual", layer, [&] {
            const std::int64_t first = std::int64_t(R.index) * local;
            const std::int64_t valid = std::clamp<std::int64_t>(M - first, 0, local);
            SHARD_CUDA_CHECK(cudaMemsetAsync(R.xs, 0, std::size_t(local * h * e), R.stream));
            if (valid > 0)
                SHARD_CUDA_CHECK(cudaMemcpyAsync(R.xs, static_cast<const char*>(R.x) + first * h * e,
                                                 std::size_t(valid * h * e), cudaMemcpyDeviceToDevice, R.stream));
            if (L.o_bias)
                kernels::add_bias(type, R.reduced, L.o_bias, local, h, R.stream);
            kernels::add(type, R.xs, R.reduced, local * h, R.stream);
        });
    }
}

void GpuModel::Impl::interleave(GpuRank& R, void* out, const void* blocks, std::int64_t M, std::int64_t w)
{
    interleave(R, out, blocks, t, M, w); // blocks [t][M][w] -> out [M][t * w]
}

void GpuModel::Impl::column_parallel(int layer, std::int64_t M, std::int64_t w, void* GpuRank::*in,
                                     void* GpuLayer::*weight, float* GpuLayer::*bias, const char* name,
                                     const char* kind, const char* gather_name, const char* out_name)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    const std::int64_t e = std::int64_t(element_size(type));
    collective(CollectiveKind::AllGather, t * M * w * e, gather_name, [&] {
        comm->all_gather(each_ptr(ranks, [&](GpuRank& R) { return R.*in; }),
                         each_ptr(ranks, [](GpuRank& R) { return R.gathered; }), M * w, type);
    });
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        const GpuLayer& L = layer_of(R, layer);
        op(R, name, kind, layer, [&] {
            interleave(R, R.interleaved, R.gathered, M, w);
            gemm(R.blas->get(), type, R.interleaved, L.*weight, R.column_out, M, t * w, h / t);
            if (L.*bias)
                kernels::add_bias(type, R.column_out, L.*bias, M, h / t, R.stream);
        });
    }
    collective(CollectiveKind::AllGather, M * h * e, out_name, [&] {
        comm->all_gather(each_ptr(ranks, [](GpuRank& R) { return R.column_out; }),
                         each_ptr(ranks, [](GpuRank& R) { return R.gathered; }), M * (h / t), type);
    });
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, "gather_columns", kind, layer, [&] { interleave(R, R.part, R.gathered, M, h / t); });
    }
}

void GpuModel::Impl::add_residual(int layer, std::int64_t M)
{
    const GpuDType type = options.dtype;
    const std::int64_t h = model.hidden;
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, "residual_add", "residual", layer, [&] { kernels::add(type, R.x, R.part, M * h, R.stream); });
    }
}

} // namespace shard::cuda
