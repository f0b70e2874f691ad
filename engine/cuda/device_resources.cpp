#include "device_resources.h"

#include "core/units.h"

#include <cublas_v2.h>

#include <chrono>
#include <thread>

namespace shard::cuda {

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line)
{
    throw CudaError(std::string(call) + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status)
                    + ") at " + file + ":" + std::to_string(line));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line)
{
    throw CudaError(std::string(call) + " failed: " + cublasGetStatusString(status) + " (" + cublasGetStatusName(status)
                    + ") at " + file + ":" + std::to_string(line));
}

DeviceGuard::DeviceGuard(int device)
{
    SHARD_CUDA_CHECK(cudaGetDevice(&m_previous));
    SHARD_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard()
{
    cudaSetDevice(m_previous);
}

DeviceMemory::DeviceMemory(std::size_t bytes, int device, const std::string& owner)
    : m_bytes(bytes)
    , m_device(device)
{
    if (bytes == 0)
        return;
    DeviceGuard guard(device);
    const cudaError_t status = cudaMalloc(&m_data, bytes);
    if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError(); // clear the sticky-free error state
        std::size_t free = 0, total = 0;
        cudaMemGetInfo(&free, &total);
        m_data = nullptr;
        throw OutOfMemory("out of GPU memory: " + owner + " asked for " + format_bytes(double(bytes)) + " on GPU "
                          + std::to_string(device) + ", " + format_bytes(double(free)) + " of "
                          + format_bytes(double(total)) + " free");
    }
    if (status != cudaSuccess)
        throw_cuda_error(status, "cudaMalloc", __FILE__, __LINE__);
}

DeviceMemory::~DeviceMemory()
{
    release();
}

DeviceMemory::DeviceMemory(DeviceMemory&& other) noexcept
    : m_data(std::exchange(other.m_data, nullptr))
    , m_bytes(std::exchange(other.m_bytes, 0))
    , m_device(other.m_device)
{ }

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept
{
    if (this != &other) {
        release();
        m_data = std::exchange(other.m_data, nullptr);
        m_bytes = std::exchange(other.m_bytes, 0);
        m_device = other.m_device;
    }
    return *this;
}

void DeviceMemory::release() noexcept
{
    if (m_data) {
        int previous = 0;
        cudaGetDevice(&previous);
        cudaSetDevice(m_device);
        cudaFree(m_data);
        cudaSetDevice(previous);
        m_data = nullptr;
    }
}

PinnedMemory::PinnedMemory(std::size_t bytes)
{
    SHARD_CUDA_CHECK(cudaMallocHost(&m_data, bytes == 0 ? 1 : bytes));
}

PinnedMemory::~PinnedMemory()
{
    if (m_data)
        cudaFreeHost(m_data);
}

PinnedMemory::PinnedMemory(PinnedMemory&& other) noexcept
    : m_data(std::exchange(other.m_data, nullptr))
{ }

PinnedMemory& PinnedMemory::operator=(PinnedMemory&& other) noexcept
{
    if (this != &other) {
        if (m_data)
            cudaFreeHost(m_data);
        m_data = std::exchange(other.m_data, nullptr);
    }
    return *this;
}

Stream::Stream(int device)
    : m_device(device)
{
    DeviceGuard guard(device);
    SHARD_CUDA_CHECK(cudaStreamCreateWithFlags(&m_stream, cudaStreamNonBlocking));
}

Stream::~Stream()
{
    if (m_stream)
        cudaStreamDestroy(m_stream);
}

void Stream::synchronize() const
{
    SHARD_CUDA_CHECK(cudaStreamSynchronize(m_stream));
}

Event::Event(int device, bool timing)
{
    DeviceGuard guard(device);
    SHARD_CUDA_CHECK(cudaEventCreateWithFlags(&m_event, timing ? cudaEventDefault : cudaEventDisableTiming));
}

Event::~Event()
{
    if (m_event)
        cudaEventDestroy(m_event);
}

void Event::record(cudaStream_t stream)
{
    SHARD_CUDA_CHECK(cudaEventRecord(m_event, stream));
}

float Event::ms_since(const Event& start) const
{
    float ms = 0;
    SHARD_CUDA_CHECK(cudaEventElapsedTime(&ms, start.m_event, m_event));
    return ms;
}

BlasHandle::BlasHandle(int device, cudaStream_t stream)
{
    DeviceGuard guard(device);
    SHARD_CUBLAS_CHECK(cublasCreate(&m_handle));
    SHARD_CUBLAS_CHECK(cublasSetStream(m_handle, stream));
    // fp32 stays fp32: no silent TF32 (CUBLAS_COMPUTE_32F is asked for explicitly as well).
    SHARD_CUBLAS_CHECK(cublasSetMathMode(m_handle, CUBLAS_DEFAULT_MATH));
}

BlasHandle::~BlasHandle()
{
    if (m_handle)
        cublasDestroy(m_handle);
}

GraphExec::~GraphExec()
{
    if (m_exec)
        cudaGraphExecDestroy(m_exec);
}

GraphExec& GraphExec::operator=(GraphExec&& other) noexcept
{
    if (this != &other) {
        if (m_exec)
            cudaGraphExecDestroy(m_exec);
        m_exec = std::exchange(other.m_exec, nullptr);
    }
    return *this;
}

void GraphExec::begin_capture(cudaStream_t stream)
{
    SHARD_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
}

void GraphExec::end_capture(cudaStream_t stream)
{
    cudaGraph_t graph = nullptr;
    SHARD_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    if (m_exec)
        cudaGraphExecDestroy(m_exec);
    m_exec = nullptr;
    const cudaError_t status = cudaGraphInstantiate(&m_exec, graph, 0);
    cudaGraphDestroy(graph);
    if (status != cudaSuccess)
        throw_cuda_error(status, "cudaGraphInstantiate", __FILE__, __LINE__);
}

void GraphExec::launch(cudaStream_t stream) const
{
    SHARD_CUDA_CHECK(cudaGraphLaunch(m_exec, stream));
}

void wait_stream(cudaStream_t stream, double timeout_s, const std::function<void()>& poll)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
        const cudaError_t status = cudaStreamQuery(stream);
        if (status == cudaSuccess)
            return;
        if (status != cudaErrorNotReady)
            throw_cuda_error(status, "cudaStreamQuery", __FILE__, __LINE__);
        if (poll)
            poll();
        if (std::chrono::steady_clock::now() > deadline)
            throw CudaError("the GPU work did not finish within " + std::to_string(int(timeout_s))
                            + " s (a hung kernel or collective)");
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
}

void* Arena::take(std::size_t bytes)
{
    constexpr std::size_t alignment = 256;
    const std::size_t offset = (m_used + alignment - 1) / alignment * alignment;
    m_used = offset + bytes;
    if (!m_base)
        return nullptr;
    if (m_used > m_capacity)
        throw CudaError("workspace arena overflow: " + std::to_string(m_used) + " of " + std::to_string(m_capacity)
                        + " bytes (the size pass and the binding pass disagree)");
    return m_base + offset;
}

double time_ms(cudaStream_t stream, int reps, const std::function<void()>& work)
{
    Event start(0), stop(0);
    work();
    work();
    start.record(stream);
    for (int i = 0; i < reps; ++i)
        work();
    stop.record(stream);
    SHARD_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    return stop.ms_since(start) / reps;
}

} // namespace shard::cuda
