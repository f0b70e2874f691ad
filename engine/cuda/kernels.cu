// The element-wise, norm, embedding, rotary, cache and argmax kernels of the CUDA engine.
// Host code lives in .cpp files and calls the launchers declared in kernels.h; kernels are
// templated on the element type and accumulate in fp32.
#include "kernels.h"

#include "kernel_math.h"
#include "kernel_utils.cuh"

namespace shard::cuda::kernels {

namespace {

using namespace detail;

template<class T> __global__ void convert_from_f32_kernel(T* out, const float* in, std::int64_t n)
{
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
        out[i] = from_f<T>(in[i]);
}

template<class T> __global__ void convert_to_f32_kernel(float* out, const T* in, std::int64_t n)
{
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
        out[i] = to_f(in[i]);
}

__global__ void set_int_kernel(int* target, int value)
{
    *target = value;
}

template<class T>
__global__ void embed_kernel(T* out, const T* table, const int* tokens, std::int64_t hidden, std::int64_t begin,
                             std::int64_t vocab_rows)
{
    const std::int64_t row = blockIdx.x;
    const std::int64_t v = std::int64_t(tokens[row]) - begin;
    const bool mine = v >= 0 && v < vocab_rows;
    for (std::int64_t c = threadIdx.x; c < hidden; c += blockDim.x)
        out[row * hidden + c] = mine ? table[v * hidden + c] : from_f<T>(0.0f);
}

template<class T>
__global__ void add_positions_kernel(T* x, const T* table, std::int64_t hidden, std::int64_t first_row, int T_,
                                     const int* pos)
{
    const std::int64_t row = blockIdx.x;
    const std::int64_t p = *pos + (first_row + row) % T_;
    for (std::int64_t c = threadIdx.x; c < hidden; c += blockDim.x)
        x[row * hidden + c] = from_f<T>(to_f(x[row * hidden + c]) + to_f(table[p * hidden + c]));
}

template<class T>
__global__ void norm_kernel(T* out, const T* in, const float* weight, const float* bias, bool layer_norm,
                            std::int64_t cols, float eps)
{
    const T* row = in + blockIdx.x * cols;
    T* dst = out + blockIdx.x * cols;
    float sum, squares;
    row_sums(row, cols, sum, squares);
    const float mean = layer_norm ? sum / float(cols) : 0.0f;
    const float var = layer_norm ? squares / float(cols) - mean * mean : squares / float(cols);
    const float scale = rsqrtf(var + eps);
    for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = (to_f(row[c]) - mean) * scale * weight[c];
        if (bias)
            v += bias[c];
        dst[c] = from_f<T>(v);
    }
}

// One warp per (row, head).
template<class T>
__global__ void head_norm_kernel(T* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d,
                                 const float* weight, float eps)
{
    const std::int64_t item = blockIdx.x * std::int64_t(blockDim.x / 32) + threadIdx.x / 32;
    if (item >= rows * heads)
        return;
    const int lane = threadIdx.x % 32;
    T* v = x + (item / heads) * ld + col + (item % heads) * d;
    float squares = 0;
    for (int i = lane; i < d; i += 32)
        squares += to_f(v[i]) * to_f(v[i]);
    squares = warp_sum(squares);
    const float scale = rsqrtf(squares / float(d) + eps);
    for (int i = lane; i < d; i += 32)
        v[i] = from_f<T>(to_f(v[i]) * scale * weight[i]);
}

template<class T> __global__ void add_bias_kernel(T* y, const float* bias, std::int64_t rows, std::int64_t cols)
{
    const std::int64_t n = rows * cols;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
        y[i] = from_f<T>(to_f(y[i]) + bias[i % cols]);
}

template<class T> __global__ void add_kernel(T* y, const T* x, std::int64_t n)
{
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
        y[i] = from_f<T>(to_f(y[i]) + to_f(x[i]));
}

// One thread per rotated pair; angles in double like the CPU reference.
template<class T>
__global__ void rotary_kernel(T* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d, int T_,
                              const int* pos)
{
    const int half = d / 2;
    const std::int64_t n = rows * heads * half;
    for (std::int64_t item = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; item < n;
         item += std::int64_t(gridDim.x) * blockDim.x) {
        const int i = int(item % half);
        const std::int64_t rh = item / half;
        const std::int64_t row = rh / heads;
        const int h = int(rh % heads);
        const double p = double(*pos + row % T_);
        const double freq = pow(10000.0, -2.0 * i / d);
        double s, c;
        sincos(p * freq, &s, &c);
        T* v = x + row * ld + col + std::int64_t(h) * d;
        const float a = to_f(v[i]);
        const float b = to_f(v[i + half]);
        v[i] = from_f<T>(float(a * c - b * s));
        v[i + half] = from_f<T>(float(b * c + a * s));
    }
}

template<class T>
__global__ void write_cache_kernel(T* cache, const T* src, std::int64_t ld, std::int64_t col, int T_, int kv_heads,
                                   int d, int max_ctx, const int* pos)
{
    const std::int64_t row = blockIdx.x; // seq * T + t
    const std::int64_t seq = row / T_;
    const std::int64_t p = *pos + row % T_;
    const std::int64_t width = std::int64_t(kv_heads) * d;
    T* dst = cache + (seq * max_ctx + p) * width;
    for (std::int64_t c = threadIdx.x; c < width; c += blockDim.x)
        dst[c] = src[row * ld + col + c];
}

__device__ __forceinline__ float apply(Act act, float x)
{
    switch (act) {
    case Act::SiLU:
        return x / (1.0f + expf(-x));
    case Act::GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Act::GELUTanh:
        return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
    case Act::ReLU:
        return x > 0 ? x : 0.0f;
    }
    return x;
}

template<class T> __global__ void gated_kernel(T* out, const T* gate_up, std::int64_t rows, std::int64_t width, Act act)
{
    const std::int64_t n = rows * width;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        const std::int64_t r = i / width;
        const std::int64_t c = i % width;
        const T* row = gate_up + r * 2 * width;
        out[i] = from_f<T>(apply(act, to_f(row[c])) * to_f(row[width + c]));
    }
}

template<class T> __global__ void activate_kernel(T* x, std::int64_t n, Act act)
{
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
        x[i] = from_f<T>(apply(act, to_f(x[i])));
}

template<class T> __global__ void last_rows_kernel(T* last, const T* x, int T_, std::int64_t hidden)
{
    const std::int64_t b = blockIdx.x;
    const T* src = x + (b * T_ + T_ - 1) * hidden;
    for (std::int64_t c = threadIdx.x; c < hidden; c += blockDim.x)
        last[b * hidden + c] = src[c];
}

// One block per row; ties to the lower index.
template<class T>
__global__ void argmax_rows_kernel(float* pairs, const T* logits, std::int64_t cols, std::int64_t base,
                                   std::int64_t vocab)
{
    __shared__ float best_value[32];
    __shared__ long long best_index[32];
    const T* row = logits + blockIdx.x * cols;
    float value = -FLT_MAX;
    long long index = -1;
    for (std::int64_t c = threadIdx.x; c < cols && base + c < vocab; c += blockDim.x) {
        const float v = to_f(row[c]);
        if (index < 0 || v > value) {
            value = v;
            index = base + c;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, value, o);
        const long long oi = __shfl_xor_sync(0xffffffffu, index, o);
        if (oi >= 0 && (index < 0 || ov > value || (ov == value && oi < index))) {
            value = ov;
            index = oi;
        }
    }
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    if (lane == 0) {
        best_value[warp] = value;
        best_index[warp] = index;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < int(blockDim.x / 32); ++w) {
            const long long oi = best_index[w];
            if (oi >= 0 && (index < 0 || best_value[w] > value || (best_value[w] == value && oi < index))) {
                value = best_value[w];
                index = oi;
            }
        }
        pairs[blockIdx.x * 2] = index < 0 ? -FLT_MAX : value;
        pairs[blockIdx.x * 2 + 1] = float(index < 0 ? 0 : index);
    }
}

__global__ void argmax_pairs_kernel(int* tokens, const float* pairs, int parts, int rows)
{
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= rows)
        return;
    tokens[b] = kernel_math::best_of_pairs(pairs, parts, rows, b);
}

int row_threads(std::int64_t cols)
{
    return cols >= 1024 ? 1024 : cols >= 256 ? 256 : 128;
}

} // namespace

void convert_from_f32(GpuDType type, void* out, const float* in, std::int64_t n, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(n, kThreads), kThreads, 0, s,
                                      convert_from_f32_kernel<T>)(static_cast<T*>(out), in, n));
}

void convert_to_f32(GpuDType type, float* out, const void* in, std::int64_t n, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(n, kThreads), kThreads, 0, s,
                                      convert_to_f32_kernel<T>)(out, static_cast<const T*>(in), n));
}

void set_int(int* target, int value, cudaStream_t s)
{
    SHARD_LAUNCH(1, 1, 0, s, set_int_kernel)(target, value);
    check_launch();
}

void embed(GpuDType type, void* out, const void* table, const int* tokens, std::int64_t rows, std::int64_t hidden,
           std::int64_t vocab_begin, std::int64_t vocab_rows, cudaStream_t s)
{
    if (rows == 0)
        return;
    SHARD_DISPATCH(type,
                   SHARD_LAUNCH(unsigned(rows), row_threads(hidden), 0, s, embed_kernel<T>)(
                       static_cast<T*>(out), static_cast<const T*>(table), tokens, hidden, vocab_begin, vocab_rows));
}

void add_positions(GpuDType type, void* x, const void* table, std::int64_t rows, std::int64_t hidden,
                   std::int64_t first_row, int seq_len, const int* pos, cudaStream_t s)
{
    if (rows == 0)
        return;
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned(rows), row_threads(hidden), 0, s, add_positions_kernel<T>)(
                             static_cast<T*>(x), static_cast<const T*>(table), hidden, first_row, seq_len, pos));
}

void norm(GpuDType type, void* out, const void* in, const float* weight, const float* bias, bool layer_norm,
          std::int64_t rows, std::int64_t cols, float eps, cudaStream_t s)
{
    if (rows == 0)
        return;
    SHARD_DISPATCH(type,
                   SHARD_LAUNCH(unsigned(rows), row_threads(cols), 0, s, norm_kernel<T>)(
                       static_cast<T*>(out), static_cast<const T*>(in), weight, bias, layer_norm || bias, cols, eps));
}

void head_norm(GpuDType type, void* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d,
               const float* weight, float eps, cudaStream_t s)
{
    const std::int64_t items = rows * heads;
    if (items == 0)
        return;
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned((items + 7) / 8), 256, 0, s,
                                      head_norm_kernel<T>)(static_cast<T*>(x), ld, col, rows, heads, d, weight, eps));
}

void add_bias(GpuDType type, void* y, const float* bias, std::int64_t rows, std::int64_t cols, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(rows * cols, kThreads), kThreads, 0, s,
                                      add_bias_kernel<T>)(static_cast<T*>(y), bias, rows, cols));
}

void add(GpuDType type, void* y, const void* x, std::int64_t n, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(n, kThreads), kThreads, 0, s,
                                      add_kernel<T>)(static_cast<T*>(y), static_cast<const T*>(x), n));
}

void rotary(GpuDType type, void* x, std::int64_t ld, std::int64_t col, std::int64_t rows, int heads, int d, int seq_len,
            const int* pos, cudaStream_t s)
{
    const std::int64_t n = rows * heads * (d / 2);
    if (n == 0)
        return;
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(n, kThreads), kThreads, 0, s,
                                      rotary_kernel<T>)(static_cast<T*>(x), ld, col, rows, heads, d, seq_len, pos));
}

void write_cache(GpuDType type, void* cache, const void* src, std::int64_t ld, std::int64_t col, int seqs, int seq_len,
                 int kv_heads, int d, int max_ctx, const int* pos, cudaStream_t s)
{
    const std::int64_t rows = std::int64_t(seqs) * seq_len;
    if (rows == 0)
        return;
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned(rows), 128, 0, s,
                                      write_cache_kernel<T>)(static_cast<T*>(cache), static_cast<const T*>(src), ld,
                                                             col, seq_len, kv_heads, d, max_ctx, pos));
}

void gated(GpuDType type, void* out, const void* gate_up, std::int64_t rows, std::int64_t width, Act act,
           cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(blocks_for(rows * width, kThreads), kThreads, 0, s, gated_kernel<T>)(
                             static_cast<T*>(out), static_cast<const T*>(gate_up), rows, width, act));
}

void activate(GpuDType type, void* x, std::int64_t n, Act act, cudaStream_t s)
{
    SHARD_DISPATCH(
        type, SHARD_LAUNCH(blocks_for(n, kThreads), kThreads, 0, s, activate_kernel<T>)(static_cast<T*>(x), n, act));
}

void last_rows(GpuDType type, void* last, const void* x, int seqs, int seq_len, std::int64_t hidden, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned(seqs), row_threads(hidden), 0, s, last_rows_kernel<T>)(
                             static_cast<T*>(last), static_cast<const T*>(x), seq_len, hidden));
}

void argmax_rows(GpuDType type, float* pairs, const void* logits, int rows, std::int64_t cols, std::int64_t index_base,
                 std::int64_t vocab, cudaStream_t s)
{
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned(rows), 256, 0, s, argmax_rows_kernel<T>)(
                             pairs, static_cast<const T*>(logits), cols, index_base, vocab));
}

void argmax_pairs(int* tokens, const float* pairs, int parts, int rows, cudaStream_t s)
{
    SHARD_LAUNCH(unsigned((rows + 127) / 128), 128, 0, s, argmax_pairs_kernel)(tokens, pairs, parts, rows);
    check_launch();
}

} // namespace shard::cuda::kernels
