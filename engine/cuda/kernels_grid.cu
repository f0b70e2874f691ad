// The 2D / 2.5D / 3D layouts' norm: each rank holds a chunk of every row's hidden
// columns, so the row statistics are partial sums, all-reduced over the grid axis that
// splits the hidden dimension, before each rank normalises its chunk.
#include "kernels.h"

#include "kernel_utils.cuh"

namespace shard::cuda::kernels {

namespace {

using namespace detail;

int threads_for(std::int64_t cols)
{
    return cols >= 1024 ? 1024 : cols >= 256 ? 256 : 128;
}

template<class T> __global__ void row_stats_kernel(float* stats, const T* in, std::int64_t cols, bool layer_norm)
{
    float sum, squares;
    row_sums(in + blockIdx.x * cols, cols, sum, squares);
    if (threadIdx.x != 0)
        return;
    if (layer_norm) {
        stats[2 * blockIdx.x] = squares;
        stats[2 * blockIdx.x + 1] = sum;
    } else {
        stats[blockIdx.x] = squares;
    }
}

// Mean and variance in double from the summed statistics, as the CPU GridModel does.
template<class T>
__global__ void chunk_norm_kernel(T* out, const T* in, const float* stats, const float* weight, const float* bias,
                                  bool layer_norm, std::int64_t cols, double hidden, double eps)
{
    const T* row = in + blockIdx.x * cols;
    T* dst = out + blockIdx.x * cols;
    const double mean = layer_norm ? double(stats[2 * blockIdx.x + 1]) / hidden : 0.0;
    const double var = double(stats[layer_norm ? 2 * blockIdx.x : blockIdx.x]) / hidden - mean * mean;
    const float scale = float(1.0 / sqrt(var + eps));
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = float((double(to_f(row[c])) - mean) * double(scale)) * weight[c];
        if (bias)
            v += bias[c];
        dst[c] = from_f<T>(v);
    }
}

} // namespace

void row_stats(GpuDType type, float* stats, const void* in, std::int64_t rows, std::int64_t cols, bool layer_norm,
               cudaStream_t s)
{
    if (rows == 0)
        return;
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned(rows), threads_for(cols), 0, s,
                                      row_stats_kernel<T>)(stats, static_cast<const T*>(in), cols, layer_norm));
}

void chunk_norm(GpuDType type, void* out, const void* in, const float* stats, const float* weight, const float* bias,
                bool layer_norm, std::int64_t rows, std::int64_t cols, std::int64_t hidden, double eps, cudaStream_t s)
{
    if (rows == 0)
        return;
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned(rows), threads_for(cols), 0, s,
                                      chunk_norm_kernel<T>)(static_cast<T*>(out), static_cast<const T*>(in), stats,
                                                            weight, bias, layer_norm, cols, double(hidden), eps));
}

} // namespace shard::cuda::kernels
