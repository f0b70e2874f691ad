// The emulated collectives: reductions and copies between the buffers of virtual ranks
// that share one GPU.
#include "kernels.h"

#include "kernel_utils.cuh"

namespace shard::cuda::kernels {

namespace {

using namespace detail;

template<class T> __global__ void sum_all_kernel(Pointers bufs, int n, std::int64_t count)
{
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        float total = 0;
        for (int r = 0; r < n; ++r)
            total += to_f(static_cast<const T*>(bufs.p[r])[i]);
        const T v = from_f<T>(total);
        for (int r = 0; r < n; ++r)
            static_cast<T*>(bufs.p[r])[i] = v;
    }
}

template<class T> __global__ void gather_all_kernel(Pointers out, Pointers in, int n, std::int64_t count)
{
    const std::int64_t total = count * n;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        const T v = static_cast<const T*>(in.p[i / count])[i % count];
        for (int r = 0; r < n; ++r)
            static_cast<T*>(out.p[r])[i] = v;
    }
}

template<class T> __global__ void reduce_scatter_all_kernel(Pointers out, Pointers in, int n, std::int64_t count)
{
    const std::int64_t total = count * n;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        float sum = 0;
        for (int r = 0; r < n; ++r)
            sum += to_f(static_cast<const T*>(in.p[r])[i]);
        static_cast<T*>(out.p[i / count])[i % count] = from_f<T>(sum);
    }
}

template<class T> __global__ void all_to_all_kernel(Pointers out, Pointers in, int n, std::int64_t count)
{
    // One pass over every destination element: member r, chunk i (from member i), element c.
    const std::int64_t per_member = count * n;
    const std::int64_t total = per_member * n;
    for (std::int64_t x = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; x < total;
         x += std::int64_t(gridDim.x) * blockDim.x) {
        const int r = int(x / per_member);
        const std::int64_t rest = x % per_member;
        const int i = int(rest / count);
        const std::int64_t c = rest % count;
        static_cast<T*>(out.p[r])[rest] = static_cast<const T*>(in.p[i])[std::int64_t(r) * count + c];
    }
}

} // namespace

void all_to_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t s)
{
    const std::int64_t total = count * n * n;
    SHARD_DISPATCH(type,
                   SHARD_LAUNCH(blocks_for(total, kThreads), kThreads, 0, s, all_to_all_kernel<T>)(out, in, n, count));
}

void sum_all(GpuDType type, Pointers bufs, int n, std::int64_t count, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(count, kThreads), kThreads, 0, s, sum_all_kernel<T>)(bufs, n, count));
}

void gather_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t s)
{
    SHARD_DISPATCH(
        type, SHARD_LAUNCH(blocks_for(count * n, kThreads), kThreads, 0, s, gather_all_kernel<T>)(out, in, n, count));
}

void reduce_scatter_all(GpuDType type, Pointers out, Pointers in, int n, std::int64_t count, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(count * n, kThreads), kThreads, 0, s,
                                      reduce_scatter_all_kernel<T>)(out, in, n, count));
}

} // namespace shard::cuda::kernels
