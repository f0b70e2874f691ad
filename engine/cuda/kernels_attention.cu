// Attention kernels: split-context decode attention and the causal softmax of the cuBLAS
// prefill path.
#include "kernels.h"

#include "kernel_utils.cuh"

namespace shard::cuda::kernels {

namespace {

using namespace detail;

// Split-context ("flash-decoding") attention. Each block takes one query row, one KV head
// (all query heads of its group read each cached key and value once) and a chunk of
// kChunk positions; it writes, per query head, the chunk's max score m, its sum of
// exp(score - m) l and its unnormalised output; the combine kernel merges the chunks.
// Splitting the context keeps every SM busy even for one sequence and one KV head.
constexpr int kChunk = 64;

template<class T>
__global__ void attention_partial_kernel(const T* q, std::int64_t q_ld, const T* k_cache, const T* v_cache,
                                         float* partials, int T_, int heads, int kv_heads, int d, int max_ctx,
                                         int splits, const int* pos)
{
    float* shared = dynamic_shared<float>(); // [group][d] queries, then [group][kChunk] scores
    const std::int64_t row = blockIdx.x;
    const int kvh = blockIdx.y;
    const int split = blockIdx.z;
    const int group = heads / kv_heads;
    const std::int64_t seq = row / T_;
    const int ctx = *pos + int(row % T_) + 1;
    const int begin = split * kChunk;
    const int n = min(ctx, begin + kChunk) - begin;
    auto slot = [&](int j) {
        return partials + ((row * heads + std::int64_t(kvh) * group + j) * splits + split) * (d + 2);
    };
    if (n <= 0) { // past the causal context: an empty chunk
        for (int j = threadIdx.x; j < group; j += blockDim.x) {
            slot(j)[0] = -FLT_MAX;
            slot(j)[1] = 0.0f;
        }
        return;
    }
    const std::int64_t kv_width = std::int64_t(kv_heads) * d;
    const T* K = k_cache + (seq * max_ctx + begin) * kv_width + std::int64_t(kvh) * d;
    const T* V = v_cache + (seq * max_ctx + begin) * kv_width + std::int64_t(kvh) * d;
    float* qs = shared;
    float* sc = shared + group * d;
    const float scale = rsqrtf(float(d));
    for (int i = threadIdx.x; i < group * d; i += blockDim.x)
        qs[i] = to_f(q[row * q_ld + (std::int64_t(kvh) * group + i / d) * d + i % d]);
    __syncthreads();
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    const int warps = blockDim.x / 32;
    for (int p = warp; p < n; p += warps) {
        const T* k = K + std::int64_t(p) * kv_width;
        for (int j = 0; j < group; ++j) {
            float dot = 0;
            for (int i = lane; i < d; i += 32)
                dot += qs[j * d + i] * to_f(k[i]);
            dot = warp_sum(dot);
            if (lane == 0)
                sc[j * kChunk + p] = dot * scale;
        }
    }
    __syncthreads();
    for (int j = warp; j < group; j += warps) {
        float* s = sc + j * kChunk;
        float best = -FLT_MAX;
        for (int p = lane; p < n; p += 32)
            best = fmaxf(best, s[p]);
        best = warp_max(best);
        float total = 0;
        for (int p = lane; p < n; p += 32) {
            const float e = expf(s[p] - best);
            s[p] = e;
            total += e;
        }
        total = warp_sum(total);
        if (lane == 0) {
            slot(j)[0] = best;
            slot(j)[1] = total;
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < group * d; i += blockDim.x) {
        const int j = i / d;
        const int c = i % d;
        const float* s = sc + j * kChunk;
        float acc = 0;
        for (int p = 0; p < n; ++p)
            acc += s[p] * to_f(V[std::int64_t(p) * kv_width + c]);
        slot(j)[2 + c] = acc;
    }
}

// One block per (query row, head): out = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M).
template<class T> __global__ void attention_combine_kernel(const float* partials, T* out, int heads, int d, int splits)
{
    const std::int64_t row = blockIdx.x;
    const int h = blockIdx.y;
    const float* base = partials + (row * heads + h) * std::int64_t(splits) * (d + 2);
    float M = -FLT_MAX;
    for (int s = 0; s < splits; ++s)
        if (base[s * (d + 2) + 1] > 0.0f)
            M = fmaxf(M, base[s * (d + 2)]);
    float L = 0;
    for (int s = 0; s < splits; ++s) {
        const float l = base[s * (d + 2) + 1];
        if (l > 0.0f)
            L += l * expf(base[s * (d + 2)] - M);
    }
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        float acc = 0;
        for (int s = 0; s < splits; ++s)
            if (base[s * (d + 2) + 1] > 0.0f)
                acc += base[s * (d + 2) + 2 + c] * expf(base[s * (d + 2)] - M);
        out[(row * heads + h) * d + c] = from_f<T>(acc / L);
    }
}

// One warp per (head, t) row of ctx scores.
template<class T>
__global__ void causal_softmax_kernel(T* probs, const float* scores, int heads, int T_, int ctx, int pos0)
{
    const std::int64_t item = blockIdx.x * std::int64_t(blockDim.x / 32) + threadIdx.x / 32;
    if (item >= std::int64_t(heads) * T_)
        return;
    const int lane = threadIdx.x % 32;
    const int t = int(item % T_);
    const int valid = pos0 + t + 1;
    const float* s = scores + item * ctx;
    T* p = probs + item * ctx;
    float best = -FLT_MAX;
    for (int c = lane; c < valid; c += 32)
        best = fmaxf(best, s[c]);
    best = warp_max(best);
    float total = 0;
    for (int c = lane; c < valid; c += 32)
        total += expf(s[c] - best);
    total = warp_sum(total);
    const float inv = 1.0f / total;
    for (int c = lane; c < ctx; c += 32)
        p[c] = from_f<T>(c < valid ? expf(s[c] - best) * inv : 0.0f);
}

} // namespace

int attention_splits(int max_ctx)
{
    return (max_ctx + kChunk - 1) / kChunk;
}

void attention(GpuDType type, const void* q, std::int64_t q_ld, const void* k_cache, const void* v_cache, void* out,
               float* partials, int seqs, int seq_len, int heads, int kv_heads, int d, int max_ctx, const int* pos,
               cudaStream_t s)
{
    const std::int64_t rows = std::int64_t(seqs) * seq_len;
    if (rows == 0)
        return;
    const int group = heads / kv_heads;
    const int splits = attention_splits(max_ctx);
    const std::size_t shared = std::size_t(group) * (d + kChunk) * sizeof(float);
    const dim3 grid{static_cast<unsigned>(rows), static_cast<unsigned>(kv_heads), static_cast<unsigned>(splits)};
    const dim3 combine{static_cast<unsigned>(rows), static_cast<unsigned>(heads), 1u};
    SHARD_DISPATCH(type,
                   SHARD_LAUNCH(grid, 128, shared, s, attention_partial_kernel<T>)(
                       static_cast<const T*>(q), q_ld, static_cast<const T*>(k_cache), static_cast<const T*>(v_cache),
                       partials, seq_len, heads, kv_heads, d, max_ctx, splits, pos));
    SHARD_DISPATCH(type, SHARD_LAUNCH(combine, d >= 128 ? 128 : 32, 0, s,
                                      attention_combine_kernel<T>)(partials, static_cast<T*>(out), heads, d, splits));
}

void causal_softmax(GpuDType type, void* probs, const float* scores, int heads, int seq_len, int ctx, int pos0,
                    cudaStream_t s)
{
    const std::int64_t items = std::int64_t(heads) * seq_len;
    SHARD_DISPATCH(type, SHARD_LAUNCH(unsigned((items + 7) / 8), 256, 0, s, causal_softmax_kernel<T>)(
                             static_cast<T*>(probs), scores, heads, seq_len, ctx, pos0));
}

} // namespace shard::cuda::kernels
