// The host model of the CUDA runtime and cuBLAS (include/ here): work runs at once on the
// calling thread, in enqueue order; events read the host clock.
#include "cublas_v2.h"
#include "cuda_runtime_api.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>

struct CUstream_st {
    int id = 0;
};
struct CUevent_st {
    std::chrono::steady_clock::time_point at{};
};
struct cublasContext {
    cudaStream_t stream = nullptr;
};

namespace {

thread_local int current_device = 0;

template <class F>
cudaError_t guarded(F f)
{
    f();
    return cudaSuccess;
}

} // namespace

const char* cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNotSupported: return "operation not supported by the host model of CUDA";
    default: return "host model error";
    }
}

const char* cudaGetErrorName(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    default: return "cudaErrorUnknown";
    }
}

cudaError_t cudaGetLastError()
{
    return cudaSuccess;
}

// Eight "GPUs", as one DGX: they all share the host's memory.
constexpr int kHostDevices = 8;

cudaError_t cudaGetDeviceCount(int* count)
{
    *count = kHostDevices;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device)
{
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= kHostDevices)
        return cudaErrorInvalidValue;
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, std::size_t bytes)
{
    // Filled with NaN-like garbage so a read before a write shows in the results.
    *ptr = std::malloc(bytes == 0 ? 1 : bytes);
    if (!*ptr)
        return cudaErrorMemoryAllocation;
    std::memset(*ptr, 0xff, bytes);
    return cudaSuccess;
}

cudaError_t cudaFree(void* ptr)
{
    std::free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, std::size_t bytes)
{
    return cudaMalloc(ptr, bytes);
}

cudaError_t cudaFreeHost(void* ptr)
{
    return cudaFree(ptr);
}

cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total)
{
    *free = std::size_t(8) << 30;
    *total = std::size_t(8) << 30;
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind)
{
    return guarded([&] { std::memmove(dst, src, bytes); });
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t)
{
    return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                              std::size_t height, cudaMemcpyKind, cudaStream_t)
{
    if (width > dpitch || width > spitch)
        return cudaErrorInvalidValue; // as CUDA answers
    for (std::size_t r = 0; r < height; ++r)
        std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t)
{
    return guarded([&] { std::memset(dst, value, bytes); });
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned)
{
    *stream = new CUstream_st;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t)
{
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t)
{
    return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned)
{
    return cudaSuccess; // everything before has run already
}

cudaError_t cudaDeviceSynchronize()
{
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned)
{
    *event = new CUevent_st;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t)
{
    event->at = std::chrono::steady_clock::now();
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t)
{
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end)
{
    *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode)
{
    return cudaErrorNotSupported;
}

cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t*)
{
    return cudaErrorNotSupported;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t*, cudaGraph_t, unsigned long long)
{
    return cudaErrorNotSupported;
}

cudaError_t cudaGraphDestroy(cudaGraph_t)
{
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t)
{
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t, cudaStream_t)
{
    return cudaErrorNotSupported;
}

// ---------------------------------------------------------------- cuBLAS

cublasStatus_t cublasCreate(cublasHandle_t* handle)
{
    *handle = new cublasContext;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream)
{
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t)
{
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t, void*, std::size_t)
{
    return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t status)
{
    return status == CUBLAS_STATUS_NOT_SUPPORTED ? "only fp32 GEMMs run in the host model of cuBLAS" : "host model error";
}

const char* cublasGetStatusName(cublasStatus_t status)
{
    return status == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_NOT_SUPPORTED";
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                                          int k, const void* alpha, const void* A, cudaDataType_t Atype, int lda,
                                          long long strideA, const void* B, cudaDataType_t Btype, int ldb,
                                          long long strideB, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                                          long long strideC, int batch, cublasComputeType_t, cublasGemmAlgo_t)
{
    if (Atype != CUDA_R_32F || Btype != CUDA_R_32F || Ctype != CUDA_R_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const float a = *static_cast<const float*>(alpha);
    const float b = *static_cast<const float*>(beta);
    // Column-major: C[i + j ldc] = a sum_l op(A)[i, l] op(B)[l, j] + b C.
    for (int s = 0; s < batch; ++s) {
        const float* As = static_cast<const float*>(A) + s * strideA;
        const float* Bs = static_cast<const float*>(B) + s * strideB;
        float* Cs = static_cast<float*>(C) + s * strideC;
        std::vector<double> sums(static_cast<std::size_t>(m));
        for (int j = 0; j < n; ++j) {
            std::fill(sums.begin(), sums.end(), 0.0);
            for (int l = 0; l < k; ++l) {
                const double y = transb == CUBLAS_OP_N ? Bs[l + std::int64_t(j) * ldb] : Bs[j + std::int64_t(l) * ldb];
                if (transa == CUBLAS_OP_N) { // column l of A is contiguous
                    const float* column = As + std::int64_t(l) * lda;
                    for (int i = 0; i < m; ++i)
                        sums[std::size_t(i)] += double(column[i]) * y;
                } else {
                    for (int i = 0; i < m; ++i)
                        sums[std::size_t(i)] += double(As[l + std::int64_t(i) * lda]) * y;
                }
            }
            for (int i = 0; i < m; ++i) {
                float& c = Cs[i + std::int64_t(j) * ldc];
                c = float(a * sums[std::size_t(i)]) + (b == 0.0f ? 0.0f : b * c); // beta 0 ignores C, as cuBLAS does
            }
        }
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType_t Atype, int lda, const void* B,
                            cudaDataType_t Btype, int ldb, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo)
{
    return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                                      Ctype, ldc, 0, 1, compute, algo);
}
