#include "gpu_blas.h"

#include "cuda_check.h"

#include <library_types.h>

#include <cmath>

namespace shard::cuda {

namespace {

cudaDataType_t data_type(GpuDType type)
{
    switch (type) {
    case GpuDType::F32:
        return CUDA_R_32F;
    case GpuDType::F16:
        return CUDA_R_16F;
    case GpuDType::BF16:
        return CUDA_R_16BF;
    }
    return CUDA_R_32F;
}

const char* at(const void* base, std::int64_t elements, GpuDType type)
{
    return static_cast<const char*>(base) + elements * std::int64_t(element_size(type));
}

} // namespace

void gemm(cublasHandle_t handle, GpuDType type, const void* x, const void* w, void* y, std::int64_t m, std::int64_t k,
          std::int64_t n, float beta, std::int64_t ldx, std::int64_t ldy)
{
    if (m == 0 || n == 0)
        return;
    const float alpha = 1.0f;
    const cudaDataType_t t = data_type(type);
    // Column-major view: Y^T[n,m] = W^T[n,k] X^T[k,m].
    SHARD_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(m), int(k), &alpha, w, t, int(n), x,
                                    t, int(ldx ? ldx : k), &beta, y, t, int(ldy ? ldy : n), CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT));
}

void attention_scores(cublasHandle_t handle, GpuDType type, const void* q, std::int64_t q_ld, const void* k_cache,
                      float* scores, int heads, int kv_heads, int d, int T, int ctx)
{
    const int group = heads / kv_heads;
    const float alpha = 1.0f / std::sqrt(float(d));
    const float beta = 0.0f;
    const cudaDataType_t t = data_type(type);
    for (int j = 0; j < group; ++j) {
        // Batched over KV heads: head h = kvh * group + j. Column-major C[ctx, T] = K_kvh Q_h^T.
        SHARD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
            handle, CUBLAS_OP_T, CUBLAS_OP_N, ctx, T, d, &alpha, k_cache, t, kv_heads * d, d,
            at(q, std::int64_t(j) * d, type), t, int(q_ld), std::int64_t(group) * d, &beta,
            scores + std::int64_t(j) * T * ctx, CUDA_R_32F, ctx, std::int64_t(group) * T * ctx, kv_heads,
            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
}

void attention_values(cublasHandle_t handle, GpuDType type, const void* probs, const void* v_cache, void* out,
                      int heads, int kv_heads, int d, int T, int ctx)
{
    const int group = heads / kv_heads;
    const float alpha = 1.0f;
    const float beta = 0.0f;
    const cudaDataType_t t = data_type(type);
    for (int j = 0; j < group; ++j) {
        // Column-major O^T[d, T] = V^T[d, ctx] P^T[ctx, T].
        SHARD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
            handle, CUBLAS_OP_N, CUBLAS_OP_N, d, T, ctx, &alpha, v_cache, t, kv_heads * d, d,
            at(probs, std::int64_t(j) * T * ctx, type), t, ctx, std::int64_t(group) * T * ctx, &beta,
            const_cast<char*>(at(out, std::int64_t(j) * d, type)), t, heads * d, std::int64_t(group) * d, kv_heads,
            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
}

} // namespace shard::cuda
