#pragma once

// Compiles the engine's CUDA kernels (engine/cuda/*.cu) as C++ for the host model of CUDA,
// so the host-executed engine tests run the kernels themselves rather than host loops that
// do what they do. Force-included before each .cu file (engine/cuda/host_model/CMakeLists.txt).
//
// A launch (SHARD_LAUNCH in kernel_utils.cuh) is enqueued on its host stream; when it runs,
// each block's threads run on cooperative fibers of the calling host thread
// (device_emulation.cpp): a thread runs until it reaches __syncthreads or a warp intrinsic,
// and a barrier opens once every thread it concerns has reached it. So block and warp
// reductions, shared memory and ballots compute what they compute on a GPU, in a fixed
// order. Where a GPU would hang or compute garbage (a warp intrinsic whose full mask names
// lanes that exited, a warp split between __syncthreads and a warp intrinsic) the grid
// throws KernelFault; where it would refuse the launch (too many threads, too much shared
// memory) the launch throws std::invalid_argument; both name the kernel. What this cannot
// show: races between threads (threads run one at a time) and the device's own arithmetic
// (expf, rsqrtf here are the host's).
#define SHARD_DEVICE_EMULATION 1

#include "cuda_runtime_api.h"

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// One copy per host thread: a host thread runs one block at a time.
#define __shared__ static thread_local

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1)
        : x(x_)
        , y(y_)
        , z(z_)
    { }
};

namespace shard::cuda::emu {

struct LaunchConfig {
    const char* kernel; // its name as written at the launch
    dim3 grid;
    dim3 block;
    std::size_t shared; // dynamic shared memory, bytes
};

class KernelFault : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// Throws std::invalid_argument naming the kernel when a GPU would refuse the launch.
void check_config(const LaunchConfig& config);
// Enqueues the grid on the stream; `body` runs one thread of it.
void enqueue_grid(cudaStream_t stream, const LaunchConfig& config, std::function<void()> body);

const uint3& thread_idx();
const uint3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
void sync_threads();
enum class WarpOp { Shuffle, Ballot };
// Waits for every lane of the warp; returns lane (this lane ^ lane_mask)'s value
// (Shuffle) or the mask of lanes whose value is non-zero (Ballot).
std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int lane_mask);
void* dynamic_shared();

template<class... P> class Launch {
public:
    Launch(const LaunchConfig& config, cudaStream_t stream, void (*kernel)(P...))
        : m_config(config)
        , m_stream(stream)
        , m_kernel(kernel)
    { }
    // The arguments convert to the kernel's parameter types here, as at a CUDA launch.
    void operator()(P... args) const
    {
        check_config(m_config);
        enqueue_grid(m_stream, m_config, [kernel = m_kernel, args...] { kernel(args...); });
    }

private:
    LaunchConfig m_config;
    cudaStream_t m_stream;
    void (*m_kernel)(P...);
};

template<class... P>
Launch<P...> launch(const char* name, dim3 grid, dim3 block, std::size_t shared, cudaStream_t stream,
                    void (*kernel)(P...))
{
    return Launch<P...>(LaunchConfig{name, grid, block, shared}, stream, kernel);
}

} // namespace shard::cuda::emu

#define threadIdx (::shard::cuda::emu::thread_idx())
#define blockIdx (::shard::cuda::emu::block_idx())
#define blockDim (::shard::cuda::emu::block_dim())
#define gridDim (::shard::cuda::emu::grid_dim())

inline void __syncthreads()
{
    ::shard::cuda::emu::sync_threads();
}

template<class T> T __shfl_xor_sync(unsigned mask, T value, int lane_mask)
{
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(std::uint64_t));
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    bits = ::shard::cuda::emu::warp_exchange(::shard::cuda::emu::WarpOp::Shuffle, mask, bits, lane_mask);
    std::memcpy(&value, &bits, sizeof(T));
    return value;
}

inline unsigned __ballot_sync(unsigned mask, int predicate)
{
    return unsigned(::shard::cuda::emu::warp_exchange(::shard::cuda::emu::WarpOp::Ballot, mask, predicate != 0, 0));
}

inline int __popc(unsigned value)
{
    return __builtin_popcount(value);
}

inline float rsqrtf(float value)
{
    return 1.0f / std::sqrt(value);
}

inline int min(int a, int b)
{
    return a < b ? a : b;
}
