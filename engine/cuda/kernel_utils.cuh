#pragma once

// Private to the .cu files: element conversions, warp and block reductions, launch helpers
// and the dtype dispatch of every launcher.
#include "cuda_check.h"
#include "gpu_dtype.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <cstdint>

namespace shard::cuda::kernels::detail {

__device__ __forceinline__ float to_f(float v)
{
    return v;
}
__device__ __forceinline__ float to_f(__half v)
{
    return __half2float(v);
}
__device__ __forceinline__ float to_f(__nv_bfloat16 v)
{
    return __bfloat162float(v);
}

template<class T> __device__ __forceinline__ T from_f(float v);
template<> __device__ __forceinline__ float from_f<float>(float v)
{
    return v;
}
template<> __device__ __forceinline__ __half from_f<__half>(float v)
{
    return __float2half_rn(v);
}
template<> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim a multiple of 32, at most 1024); every thread gets the result.
__device__ inline float block_sum(float v)
{
    __shared__ float partial[32];
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0)
        partial[warp] = v;
    __syncthreads();
    const int warps = blockDim.x / 32;
    float total = lane < warps ? partial[lane] : 0.0f;
    total = warp_sum(total);
    return total;
}

// A row's sum and sum of squares in fp32, over the block (one block a row); every thread
// gets both.
template<class T> __device__ inline void row_sums(const T* row, std::int64_t cols, float& sum, float& squares)
{
    sum = 0;
    squares = 0;
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = to_f(row[c]);
        sum += v;
        squares += v * v;
    }
    sum = block_sum(sum);
    squares = block_sum(squares);
}

inline unsigned blocks_for(std::int64_t n, int threads)
{
    const std::int64_t b = (n + threads - 1) / threads;
    return unsigned(b < 1 ? 1 : (b > 65535LL * 16 ? 65535LL * 16 : b));
}

inline void check_launch()
{
    SHARD_CUDA_CHECK(cudaGetLastError());
}

#define SHARD_DISPATCH(type, ...)                                                                                      \
    switch (type) {                                                                                                    \
    case GpuDType::F32: {                                                                                              \
        using T = float;                                                                                               \
        __VA_ARGS__;                                                                                                   \
        break;                                                                                                         \
    }                                                                                                                  \
    case GpuDType::F16: {                                                                                              \
        using T = __half;                                                                                              \
        __VA_ARGS__;                                                                                                   \
        break;                                                                                                         \
    }                                                                                                                  \
    case GpuDType::BF16: {                                                                                             \
        using T = __nv_bfloat16;                                                                                       \
        __VA_ARGS__;                                                                                                   \
        break;                                                                                                         \
    }                                                                                                                  \
    }                                                                                                                  \
    check_launch()

constexpr int kThreads = 256;

// kernel<<<grid, block, shared, stream>>>, spelled SHARD_LAUNCH(grid, block, shared, stream,
// kernel)(args...) so that the host model of CUDA (engine/cuda/host_model) can compile these files
// as C++ and run the kernels themselves on the CPU.
#if defined(SHARD_DEVICE_EMULATION)
#define SHARD_LAUNCH(grid, block, shared, stream, ...)                                                                 \
    ::shard::cuda::emu::launch(#__VA_ARGS__, grid, block, shared, stream, __VA_ARGS__)
#else
#define SHARD_LAUNCH(grid, block, shared, stream, ...) __VA_ARGS__<<<grid, block, shared, stream>>>
#endif

// The block's dynamic shared memory (the launch's `shared` bytes).
template<class T> __device__ __forceinline__ T* dynamic_shared()
{
#if defined(SHARD_DEVICE_EMULATION)
    return static_cast<T*>(::shard::cuda::emu::dynamic_shared());
#else
    extern __shared__ __align__(16) unsigned char shard_dynamic_shared[];
    return reinterpret_cast<T*>(shard_dynamic_shared);
#endif
}

} // namespace shard::cuda::kernels::detail
