#pragma once

// cuBLAS calls of the engine, in ShardStudio's row-major convention Y[m,n] = X[m,k] W[k,n].
// bf16 and fp16 accumulate in fp32; fp32 is computed in fp32 (CUBLAS_COMPUTE_32F, never TF32).
#include "gpu_dtype.h"

#include <cublas_v2.h>

#include <cstdint>

namespace shard::cuda {

// Y = alpha * X W + beta * Y with row strides ldx, ldw, ldy (0: dense).
void gemm(cublasHandle_t handle, GpuDType type, const void* x, const void* w, void* y, std::int64_t m, std::int64_t k,
          std::int64_t n, float beta = 0.0f, std::int64_t ldx = 0, std::int64_t ldy = 0);

// Prefill attention of one sequence with cuBLAS: S[h][t][c] = scale * Q_h K_{h/g}^T (fp32),
// then after the softmax, O_h = P_h V_{h/g}. Q rows have stride q_ld, caches kv_heads * d.
void attention_scores(cublasHandle_t handle, GpuDType type, const void* q, std::int64_t q_ld, const void* k_cache,
                      float* scores, int heads, int kv_heads, int d, int T, int ctx);
void attention_values(cublasHandle_t handle, GpuDType type, const void* probs, const void* v_cache, void* out,
                      int heads, int kv_heads, int d, int T, int ctx);

} // namespace shard::cuda
