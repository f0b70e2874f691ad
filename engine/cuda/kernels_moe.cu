// MoE data movement: top-k routing of router logits, the grouping of routed (token, slot)
// pairs by expert, the row gather into expert order and the weighted scatter back to token
// order. The grouping is stable (ascending slot order inside an expert, the order the CPU
// reference visits tokens in) so the expert GEMMs and the sums are deterministic.
#include "kernels.h"

#include "kernel_utils.cuh"

#include <stdexcept>
#include <string>

namespace shard::cuda::kernels {

namespace {

using namespace detail;

// One thread per row: k rounds of arg-max over the experts not chosen yet, ties to the lower
// index (the reference's stable sort); weights are the softmax over the chosen k.
__global__ void route_kernel(const float* logits, int rows, int experts, int k, int* out_experts, float* out_weights)
{
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows)
        return;
    const float* l = logits + std::int64_t(row) * experts;
    float best = -FLT_MAX;
    for (int e = 0; e < experts; ++e)
        best = fmaxf(best, l[e]);
    int chosen[kMaxTopK];
    float p[kMaxTopK];
    float sum = 0;
    for (int j = 0; j < k; ++j) {
        int arg = -1;
        float value = -FLT_MAX;
        for (int e = 0; e < experts; ++e) {
            bool taken = false;
            for (int i = 0; i < j; ++i)
                taken = taken || chosen[i] == e;
            if (!taken && (arg < 0 || l[e] > value)) {
                arg = e;
                value = l[e];
            }
        }
        chosen[j] = arg;
        p[j] = expf(value - best);
        sum += p[j];
    }
    for (int j = 0; j < k; ++j) {
        out_experts[std::int64_t(row) * k + j] = chosen[j];
        out_weights[std::int64_t(row) * k + j] = p[j] / sum;
    }
}

// One block per expert: how many slots chose it.
__global__ void count_kernel(const int* slot_experts, int slots, int* counts)
{
    const int e = blockIdx.x;
    float mine = 0; // exact: fewer than 2^24 slots
    for (int s = threadIdx.x; s < slots; s += blockDim.x)
        mine += slot_experts[s] == e ? 1.0f : 0.0f;
    const float total = block_sum(mine);
    if (threadIdx.x == 0)
        counts[e] = int(total);
}

__global__ void offsets_kernel(const int* counts, int experts, int* offsets)
{
    if (blockIdx.x != 0 || threadIdx.x != 0)
        return;
    int at = 0;
    for (int e = 0; e < experts; ++e) {
        offsets[e] = at;
        at += counts[e];
    }
    offsets[experts] = at;
}

// One block per expert walks every slot in chunks of blockDim; a ballot scan gives each of
// the expert's slots its place after the ones before it.
__global__ void positions_kernel(const int* slot_experts, int slots, const int* offsets, int* order, int* position)
{
    __shared__ int warp_base[32];
    __shared__ int base;
    const int e = blockIdx.x;
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    const int warps = blockDim.x / 32;
    if (threadIdx.x == 0)
        base = offsets[e];
    __syncthreads();
    for (int start = 0; start < slots; start += blockDim.x) {
        const int s = start + threadIdx.x;
        const bool mine = s < slots && slot_experts[s] == e;
        const unsigned mask = __ballot_sync(0xffffffffu, mine);
        if (lane == 0)
            warp_base[warp] = __popc(mask);
        __syncthreads();
        if (threadIdx.x == 0) { // counts to exclusive offsets, and the chunk's total onto base
            int at = base;
            for (int w = 0; w < warps; ++w) {
                const int n = warp_base[w];
                warp_base[w] = at;
                at += n;
            }
            base = at;
        }
        __syncthreads();
        if (mine) {
            const int p = warp_base[warp] + __popc(mask & ((1u << lane) - 1u));
            order[p] = s;
            position[s] = p;
        }
        __syncthreads(); // warp_base is rewritten by the next chunk
    }
}

template<class T>
__global__ void permute_kernel(T* out, const T* x, std::int64_t hidden, const int* order, int slots, int k)
{
    const std::int64_t total = std::int64_t(slots) * hidden;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        const std::int64_t p = i / hidden, c = i % hidden;
        out[i] = x[std::int64_t(order[p] / k) * hidden + c];
    }
}

template<class T>
__global__ void unpermute_kernel(T* out, const T* y, std::int64_t hidden, const int* position, const int* slot_experts,
                                 const float* weights, int rows, int k, int expert_begin, int expert_end)
{
    const std::int64_t total = std::int64_t(rows) * hidden;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        const std::int64_t row = i / hidden, c = i % hidden;
        float sum = 0;
        for (int j = 0; j < k; ++j) { // in slot order, as the reference adds them
            const std::int64_t slot = row * k + j;
            const int e = slot_experts[slot];
            if (e >= expert_begin && e < expert_end)
                sum += weights[slot] * to_f(y[std::int64_t(position[slot]) * hidden + c]);
        }
        out[i] = from_f<T>(sum);
    }
}

template<class T> __global__ void scale_rows_kernel(T* y, const float* gate, std::int64_t rows, std::int64_t cols)
{
    const std::int64_t total = rows * cols;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        const float s = 1.0f / (1.0f + expf(-gate[i / cols]));
        y[i] = from_f<T>(to_f(y[i]) * s);
    }
}

} // namespace

void scale_rows_by_sigmoid(GpuDType type, void* y, const float* gate, std::int64_t rows, std::int64_t cols,
                           cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(rows * cols, kThreads), kThreads, 0, s,
                                      scale_rows_kernel<T>)(static_cast<T*>(y), gate, rows, cols));
}

void route_top_k(const float* logits, int rows, int experts, int k, int* out_experts, float* out_weights,
                 cudaStream_t s)
{
    // The kernel keeps the chosen k in registers: a larger k would write past them.
    if (k < 1 || k > kMaxTopK || k > experts)
        throw std::invalid_argument("top-" + std::to_string(k) + " routing over " + std::to_string(experts)
                                    + " experts: k must be 1 to " + std::to_string(kMaxTopK)
                                    + " and at most the experts");
    if (rows <= 0)
        return;
    SHARD_LAUNCH(blocks_for(rows, 128), 128, 0, s, route_kernel)(logits, rows, experts, k, out_experts, out_weights);
    check_launch();
}

void group_by_expert(const int* slot_experts, int slots, int experts, int* counts, int* offsets, int* order,
                     int* position, cudaStream_t s)
{
    SHARD_LAUNCH(experts, kThreads, 0, s, count_kernel)(slot_experts, slots, counts);
    check_launch();
    SHARD_LAUNCH(1, 32, 0, s, offsets_kernel)(counts, experts, offsets);
    check_launch();
    SHARD_LAUNCH(experts, kThreads, 0, s, positions_kernel)(slot_experts, slots, offsets, order, position);
    check_launch();
}

void permute_rows(GpuDType type, void* out, const void* x, std::int64_t hidden, const int* order, int slots, int k,
                  cudaStream_t s)
{
    const std::int64_t n = std::int64_t(slots) * hidden;
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(n, kThreads), kThreads, 0, s, permute_kernel<T>)(
                             static_cast<T*>(out), static_cast<const T*>(x), hidden, order, slots, k));
}

void unpermute_rows(GpuDType type, void* out, const void* y, std::int64_t hidden, const int* position,
                    const int* slot_experts, const float* weights, int rows, int k, int expert_begin, int expert_end,
                    cudaStream_t s)
{
    const std::int64_t n = std::int64_t(rows) * hidden;
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(n, kThreads), kThreads, 0, s, unpermute_kernel<T>)(
                             static_cast<T*>(out), static_cast<const T*>(y), hidden, position, slot_experts, weights,
                             rows, k, expert_begin, expert_end));
}

} // namespace shard::cuda::kernels
