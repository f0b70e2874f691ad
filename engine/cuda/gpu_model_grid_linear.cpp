// The grid layouts' linears on the GPU, as the CPU GridModel::linear and the planner's
// layer_grid recipes: SUMMA (and 2.5D inside each depth layer) broadcasts X blocks along
// the grid row and W blocks down the column, q block steps accumulated in place, and under
// --overlap double-buffers them (block k + 1 arrives on the communication streams while
// block k multiplies); weight-stationary gathers X over one axis and reduce-scatters Y over
// the other; the 3D cube gathers X and W and reduce-scatters Y over its three axes.
#include "gpu_model_impl.h"

#include "gpu_blas.h"
#include "kernels.h"

namespace shard::cuda {

void GpuModel::Impl::interleave(GpuRank& R, void* out, const void* blocks, int parts, std::int64_t M, std::int64_t w)
{
    const std::size_t e = element_size(options.dtype);
    for (int p = 0; p < parts; ++p)
        SHARD_CUDA_CHECK(cudaMemcpy2DAsync(
            static_cast<char*>(out) + std::size_t(p) * std::size_t(w) * e, std::size_t(parts) * std::size_t(w) * e,
            static_cast<const char*>(blocks) + std::size_t(p) * std::size_t(M * w) * e, std::size_t(w) * e,
            std::size_t(w) * e, std::size_t(M), cudaMemcpyDeviceToDevice, R.stream));
}

void GpuModel::Impl::split_columns(GpuRank& R, void* out, const void* rows, int parts, std::int64_t M, std::int64_t w)
{
    // rows [M][parts * w] -> out [parts][M][w], so a reduce-scatter hands member p columns p.
    const std::size_t e = element_size(options.dtype);
    for (int p = 0; p < parts; ++p)
        SHARD_CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(out) + std::size_t(p) * std::size_t(M * w) * e,
                                           std::size_t(w) * e,
                                           static_cast<const char*>(rows) + std::size_t(p) * std::size_t(w) * e,
                                           std::size_t(parts) * std::size_t(w) * e, std::size_t(w) * e, std::size_t(M),
                                           cudaMemcpyDeviceToDevice, R.stream));
}

void GpuModel::Impl::grid_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, bool orientation_a,
                                 void* GpuRank::*in, void* GpuLayer::*w, float* GpuLayer::*bias, void* GpuRank::*out,
                                 const char* name, const char* kind)
{
    switch (plan.strategy.tensor_mode) {
    case TensorMode::WeightStationary2D:
        stationary_linear(layer, rows, K, N, orientation_a, in, w, out, name, kind);
        break;
    case TensorMode::Cube3D:
        cube_linear(layer, rows, K, N, orientation_a, in, w, out, name, kind);
        break;
    default:
        summa_linear(layer, rows, K, N, in, w, out, name, kind);
        break;
    }
    const std::int64_t width = N / ranks[0].grid->parts(); // the output chunk a rank holds
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        if (float* b = layer_of(R, layer).*bias)
            op(R, "bias", kind, layer, [&] { kernels::add_bias(options.dtype, R.*out, b, rows, width, R.stream); });
    }
}

void GpuModel::Impl::summa_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, void* GpuRank::*in,
                                  void* GpuLayer::*w, void* GpuRank::*out, const char* name, const char* kind)
{
    const GpuDType type = options.dtype;
    const int q = ranks[0].grid->q();
    const std::int64_t xw = K / q, wn = N / q;
    const std::int64_t e = std::int64_t(element_size(type));
    const std::size_t along_row = grid_axis("tp_col"), down_column = grid_axis("tp_row");
    const std::string x_name = std::string(name) + ".x", w_name = std::string(name) + ".w";
    // Block step k: rank (i, k) sends its X block along grid row i, rank (k, j) its W block
    // down column j, into buffer b of every member.
    auto broadcast = [&](int k, int b, bool fork) {
        grid_collective(
            along_row, CollectiveKind::Broadcast, rows * xw * e, x_name,
            [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                group.broadcast(pointers(members, [&](GpuRank& R) { return R.*in; }),
                                pointers(members, [&](GpuRank& R) { return R.grid_x[b]; }), rows * xw, type, k);
            },
            fork, k);
        grid_collective(
            down_column, CollectiveKind::Broadcast, xw * wn * e, w_name,
            [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                group.broadcast(pointers(members, [&](GpuRank& R) { return layer_of(R, layer).*w; }),
                                pointers(members, [&](GpuRank& R) { return R.grid_w[b]; }), xw * wn, type, k);
            },
            fork, k);
    };
    auto multiply = [&](GpuRank& R, int k, int b) {
        DeviceGuard guard(R.device);
        op(R, name, kind, layer,
           [&] { gemm(R.blas->get(), type, R.grid_x[b], R.grid_w[b], R.*out, rows, xw, wn, k == 0 ? 0.0f : 1.0f); });
    };
    if (!overlap) {
        for (int k = 0; k < q; ++k) {
            broadcast(k, 0, true);
            for (auto& R : ranks)
                multiply(R, k, 0);
        }
        return;
    }
    // Double-buffered: the broadcasts run on the communication streams one block step
    // ahead; block_ready[b] says buffer b has arrived, block_used[b] that its GEMM is done,
    // so the step after next may overwrite it.
    fork_to_comm();
    broadcast(0, 0, false);
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        R.block_ready[0]->record(R.comm_stream);
    }
    for (int k = 0; k < q; ++k) {
        const int b = k % 2;
        if (k + 1 < q) {
            const int next = 1 - b;
            if (k >= 1)
                for (auto& R : ranks) {
                    DeviceGuard guard(R.device);
                    SHARD_CUDA_CHECK(cudaStreamWaitEvent(R.comm_stream, R.block_used[next]->get(), 0));
                }
            broadcast(k + 1, next, false);
            for (auto& R : ranks) {
                DeviceGuard guard(R.device);
                R.block_ready[next]->record(R.comm_stream);
            }
        }
        for (auto& R : ranks) {
            DeviceGuard guard(R.device);
            SHARD_CUDA_CHECK(cudaStreamWaitEvent(R.stream, R.block_ready[b]->get(), 0));
            multiply(R, k, b);
            R.block_used[b]->record(R.stream);
        }
    }
    join_from_comm();
}

void GpuModel::Impl::stationary_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, bool orientation_a,
                                       void* GpuRank::*in, void* GpuLayer::*w, void* GpuRank::*out, const char* name,
                                       const char* kind)
{
    const GpuDType type = options.dtype;
    const run::GridLayout& G = *ranks[0].grid;
    const int gather = orientation_a ? G.q2() : G.q1();
    const int scatter = orientation_a ? G.q1() : G.q2();
    // Orientation A gathers X along the grid row (tp_col) and reduce-scatters Y down the
    // column (tp_row); B the other way round, so a pair returns to the layout it began in.
    const std::size_t along = grid_axis(orientation_a ? "tp_col" : "tp_row");
    const std::size_t across = grid_axis(orientation_a ? "tp_row" : "tp_col");
    const std::int64_t e = std::int64_t(element_size(type));
    const std::int64_t kl = K / scatter, nl = N / gather; // the stored block
    const std::int64_t xw = kl / gather, yw = nl / scatter;
    grid_collective(along, CollectiveKind::AllGather, rows * kl * e, std::string(name) + ".x",
                    [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                        group.all_gather(pointers(members, [&](GpuRank& R) { return R.*in; }),
                                         pointers(members, [](GpuRank& R) { return R.grid_in; }), rows * xw, type);
                    });
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, name, kind, layer, [&] {
            interleave(R, R.grid_rows, R.grid_in, gather, rows, xw);
            gemm(R.blas->get(), type, R.grid_rows, layer_of(R, layer).*w, R.grid_partial, rows, kl, nl);
            split_columns(R, R.grid_split, R.grid_partial, scatter, rows, yw);
        });
    }
    grid_collective(across, CollectiveKind::ReduceScatter, rows * nl * e, std::string(name) + ".y",
                    [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                        group.reduce_scatter(pointers(members, [](GpuRank& R) { return R.grid_split; }),
                                             pointers(members, [&](GpuRank& R) { return R.*out; }), rows * yw, type);
                    });
}

void GpuModel::Impl::cube_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, bool orientation_a,
                                 void* GpuRank::*in, void* GpuLayer::*w, void* GpuRank::*out, const char* name,
                                 const char* kind)
{
    const GpuDType type = options.dtype;
    const int q = ranks[0].grid->q();
    const std::int64_t e = std::int64_t(element_size(type));
    const std::int64_t xw = K / q, wn = N / q;
    // X rows gathered over one in-plane axis, W's K slices down the column, Y's rows
    // reduce-scattered over the third axis; orientation B swaps the X and Y axes.
    const std::size_t x_axis = grid_axis(orientation_a ? "tp_col" : "tp_z");
    const std::size_t y_axis = grid_axis(orientation_a ? "tp_z" : "tp_col");
    const std::size_t w_axis = grid_axis("tp_row");
    grid_collective(x_axis, CollectiveKind::AllGather, q * rows * xw * e, std::string(name) + ".x",
                    [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                        group.all_gather(pointers(members, [&](GpuRank& R) { return R.*in; }),
                                         pointers(members, [](GpuRank& R) { return R.grid_in; }), rows * xw, type);
                    });
    grid_collective(w_axis, CollectiveKind::AllGather, xw * wn * e, std::string(name) + ".w",
                    [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                        group.all_gather(pointers(members, [&](GpuRank& R) { return layer_of(R, layer).*w; }),
                                         pointers(members, [](GpuRank& R) { return R.grid_weight; }), xw / q * wn,
                                         type);
                    });
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        op(R, name, kind, layer,
           [&] { gemm(R.blas->get(), type, R.grid_in, R.grid_weight, R.grid_partial, q * rows, xw, wn); });
    }
    grid_collective(y_axis, CollectiveKind::ReduceScatter, q * rows * wn * e, std::string(name) + ".y",
                    [&](DeviceCollectives& group, const std::vector<GpuRank*>& members) {
                        group.reduce_scatter(pointers(members, [](GpuRank& R) { return R.grid_partial; }),
                                             pointers(members, [&](GpuRank& R) { return R.*out; }), rows * wn, type);
                    });
}

} // namespace shard::cuda
