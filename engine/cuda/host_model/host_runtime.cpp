// The host model of the CUDA runtime's memory and copies, and of cuBLAS (include/ here);
// host_streams.cpp runs the work they enqueue.
#include "cublas_v2.h"
#include "cuda_runtime_api.h"
#include "host_elements.h"
#include "host_streams.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

struct cublasContext {
    cudaStream_t stream = nullptr;
};

namespace {

thread_local int current_device = 0;
std::atomic<long long> allocation_count{0};

} // namespace

const char* cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess:
        return "no error";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorNotSupported:
        return "operation not supported by the host model of CUDA";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    default:
        return "host model error";
    }
}

const char* cudaGetErrorName(cudaError_t error)
{
    switch (error) {
    case cudaSuccess:
        return "cudaSuccess";
    case cudaErrorMemoryAllocation:
        return "cudaErrorMemoryAllocation";
    case cudaErrorNotSupported:
        return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported:
        return "cudaErrorStreamCaptureUnsupported";
    default:
        return "cudaErrorUnknown";
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
    if (shard::cuda::host::capturing())
        return cudaErrorStreamCaptureUnsupported;
    ++allocation_count;
    // Filled with NaN-like garbage so a read before a write shows in the results.
    *ptr = std::malloc(bytes == 0 ? 1 : bytes);
    if (!*ptr)
        return cudaErrorMemoryAllocation;
    std::memset(*ptr, 0xff, bytes);
    return cudaSuccess;
}

long long shard::cuda::host::allocations()
{
    return allocation_count;
}

cudaError_t cudaFree(void* ptr)
{
    if (shard::cuda::host::capturing())
        return cudaErrorStreamCaptureUnsupported;
    shard::cuda::host::drain_all(); // as on a GPU, it waits for the work that may use it
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

// The legacy default stream's copy: after every stream's work.
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind)
{
    if (shard::cuda::host::capturing())
        return cudaErrorStreamCaptureUnsupported;
    shard::cuda::host::drain_all();
    if (bytes > 0) // a copy of nothing is no copy, whatever the pointers (as in CUDA)
        std::memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind, cudaStream_t stream)
{
    if (bytes > 0)
        shard::cuda::host::enqueue(stream, [=] { std::memmove(dst, src, bytes); });
    return cudaSuccess;
}

cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                              std::size_t height, cudaMemcpyKind, cudaStream_t stream)
{
    if (width > dpitch || width > spitch)
        return cudaErrorInvalidValue; // as CUDA answers
    shard::cuda::host::enqueue(stream, [=] {
        for (std::size_t r = 0; r < height; ++r)
            std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
    });
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream)
{
    shard::cuda::host::enqueue(stream, [=] { std::memset(dst, value, bytes); });
    return cudaSuccess;
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
    shard::cuda::host::mark_compute_stream(stream);
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
    return status == CUBLAS_STATUS_NOT_SUPPORTED ? "only fp32 GEMMs run in the host model of cuBLAS"
                                                 : "host model error";
}

const char* cublasGetStatusName(cublasStatus_t status)
{
    return status == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_NOT_SUPPORTED";
}

namespace {

// The engine's element type of a cuBLAS data type; false for one the host model lacks.
bool element_type(cudaDataType_t type, shard::cuda::GpuDType& out)
{
    switch (type) {
    case CUDA_R_32F:
        out = shard::cuda::GpuDType::F32;
        return true;
    case CUDA_R_16F:
        out = shard::cuda::GpuDType::F16;
        return true;
    case CUDA_R_16BF:
        out = shard::cuda::GpuDType::BF16;
        return true;
    }
    return false;
}

} // namespace

// fp32 alpha and beta (CUBLAS_COMPUTE_32F); A and B of one type; C of that type or fp32.
// Products are summed in double and rounded once to C's type.
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* A, cudaDataType_t Atype,
                                          int lda, long long strideA, const void* B, cudaDataType_t Btype, int ldb,
                                          long long strideB, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                                          long long strideC, int batch, cublasComputeType_t, cublasGemmAlgo_t)
{
    using shard::cuda::host::Elements;
    using shard::cuda::host::Values;
    shard::cuda::GpuDType a_type{}, b_type{}, c_type{};
    if (!element_type(Atype, a_type) || !element_type(Btype, b_type) || !element_type(Ctype, c_type) || Atype != Btype
        || (Ctype != Atype && Ctype != CUDA_R_32F))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const float a = *static_cast<const float*>(alpha); // host pointer mode: read at the call
    const float b = *static_cast<const float*>(beta);
    shard::cuda::host::enqueue(handle->stream, [=] {
        // Column-major: C[i + j ldc] = a sum_l op(A)[i, l] op(B)[l, j] + b C, with op(A) and
        // op(B) widened to double and multiplied by OpenBLAS.
        std::vector<double> op_a(std::size_t(m) * std::size_t(k)), op_b(std::size_t(k) * std::size_t(n));
        std::vector<double> product(std::size_t(m) * std::size_t(n));
        for (int s = 0; s < batch; ++s) {
            const Values As = Values(a_type, A) + s * strideA;
            const Values Bs = Values(b_type, B) + s * strideB;
            const Elements Cs = Elements(c_type, C) + s * strideC;
            for (int l = 0; l < k; ++l)
                for (int i = 0; i < m; ++i)
                    op_a[std::size_t(i) + std::size_t(l) * std::size_t(m)] =
                        transa == CUBLAS_OP_N ? As[i + std::int64_t(l) * lda] : As[l + std::int64_t(i) * lda];
            for (int j = 0; j < n; ++j)
                for (int l = 0; l < k; ++l)
                    op_b[std::size_t(l) + std::size_t(j) * std::size_t(k)] =
                        transb == CUBLAS_OP_N ? Bs[l + std::int64_t(j) * ldb] : Bs[j + std::int64_t(l) * ldb];
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, op_a.data(), std::max(m, 1),
                        op_b.data(), std::max(k, 1), 0.0, product.data(), std::max(m, 1));
            for (int j = 0; j < n; ++j)
                for (int i = 0; i < m; ++i) {
                    const std::int64_t at = i + std::int64_t(j) * ldc;
                    const double sum = product[std::size_t(i) + std::size_t(j) * std::size_t(m)];
                    Cs[at] = float(a * sum) + (b == 0.0f ? 0.0f : b * Cs[at]); // beta 0 ignores C, as cuBLAS does
                }
        }
    });
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType_t Atype, int lda, const void* B,
                            cudaDataType_t Btype, int ldb, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo)
{
    return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta,
                                      C, Ctype, ldc, 0, 1, compute, algo);
}
