#pragma once

// Move-only RAII owners of CUDA objects (rmm / nvbench style): each releases what it owns
// exactly once, on the device it was made on.
#include "cuda_check.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>

namespace shard::cuda {

// Makes `device` current for a scope and restores the previous one.
class DeviceGuard {
public:
    explicit DeviceGuard(int device);
    ~DeviceGuard();
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int m_previous = 0;
};

// One cudaMalloc'd block. Allocation failures throw OutOfMemory naming `owner` (a rank)
// and the bytes asked for.
class DeviceMemory {
public:
    DeviceMemory() = default;
    DeviceMemory(std::size_t bytes, int device, const std::string& owner);
    ~DeviceMemory();
    DeviceMemory(DeviceMemory&& other) noexcept;
    DeviceMemory& operator=(DeviceMemory&& other) noexcept;
    DeviceMemory(const DeviceMemory&) = delete;
    DeviceMemory& operator=(const DeviceMemory&) = delete;

    void* data() const { return m_data; }
    std::size_t bytes() const { return m_bytes; }

private:
    void release() noexcept;
    void* m_data = nullptr;
    std::size_t m_bytes = 0;
    int m_device = 0;
};

// Page-locked host memory, so device-to-host copies can be captured in CUDA graphs.
class PinnedMemory {
public:
    PinnedMemory() = default;
    explicit PinnedMemory(std::size_t bytes);
    ~PinnedMemory();
    PinnedMemory(PinnedMemory&& other) noexcept;
    PinnedMemory& operator=(PinnedMemory&& other) noexcept;
    PinnedMemory(const PinnedMemory&) = delete;
    PinnedMemory& operator=(const PinnedMemory&) = delete;

    void* data() const { return m_data; }

private:
    void* m_data = nullptr;
};

class Stream {
public:
    explicit Stream(int device);
    ~Stream();
    Stream(Stream&& other) noexcept
        : m_stream(std::exchange(other.m_stream, nullptr))
        , m_device(other.m_device)
    { }
    Stream& operator=(Stream&&) = delete;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    cudaStream_t get() const { return m_stream; }
    int device() const { return m_device; }
    void synchronize() const;

private:
    cudaStream_t m_stream = nullptr;
    int m_device = 0;
};

// A timing event, or (timing = false) a light one that only orders streams.
class Event {
public:
    explicit Event(int device, bool timing = true);
    ~Event();
    Event(Event&& other) noexcept
        : m_event(std::exchange(other.m_event, nullptr))
    { }
    Event& operator=(Event&&) = delete;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    void record(const Stream& stream) { record(stream.get()); }
    void record(cudaStream_t stream);
    cudaEvent_t get() const { return m_event; }
    // Milliseconds from `start` to this event; both must have completed.
    float ms_since(const Event& start) const;

private:
    cudaEvent_t m_event = nullptr;
};

class BlasHandle {
public:
    BlasHandle(int device, cudaStream_t stream);
    ~BlasHandle();
    BlasHandle(BlasHandle&& other) noexcept
        : m_handle(std::exchange(other.m_handle, nullptr))
    { }
    BlasHandle& operator=(BlasHandle&&) = delete;
    BlasHandle(const BlasHandle&) = delete;
    BlasHandle& operator=(const BlasHandle&) = delete;

    cublasHandle_t get() const { return m_handle; }

private:
    cublasHandle_t m_handle = nullptr;
};

// An instantiated CUDA graph captured from one stream.
class GraphExec {
public:
    GraphExec() = default;
    ~GraphExec();
    GraphExec(GraphExec&& other) noexcept
        : m_exec(std::exchange(other.m_exec, nullptr))
    { }
    GraphExec& operator=(GraphExec&& other) noexcept;
    GraphExec(const GraphExec&) = delete;
    GraphExec& operator=(const GraphExec&) = delete;

    void begin_capture(cudaStream_t stream);
    void end_capture(cudaStream_t stream); // instantiates
    void launch(cudaStream_t stream) const;
    bool ready() const { return m_exec != nullptr; }

private:
    cudaGraphExec_t m_exec = nullptr;
};

// Waits for everything enqueued on `stream`, polling, so that a stuck kernel or transfer
// becomes an error after `timeout_s` seconds instead of a hang. `poll` runs between polls
// (NCCL's asynchronous error check) and may throw.
void wait_stream(cudaStream_t stream, double timeout_s, const std::function<void()>& poll = {});

// Hands out aligned slices of one preallocated block: every buffer a step needs is carved
// out before the first step, so the step loop never allocates. With no block it only
// measures, which is how the block's size is found.
class Arena {
public:
    Arena() = default; // measuring
    Arena(void* base, std::size_t capacity)
        : m_base(static_cast<char*>(base))
        , m_capacity(capacity)
    { }

    void* take(std::size_t bytes);
    template<class T> T* take_as(std::size_t count) { return static_cast<T*>(take(count * sizeof(T))); }
    std::size_t used() const { return m_used; }

private:
    char* m_base = nullptr;
    std::size_t m_capacity = 0;
    std::size_t m_used = 0;
};

// Mean ms of `reps` runs of `work` on `stream` (of device 0), after two warm-ups, by events.
double time_ms(cudaStream_t stream, int reps, const std::function<void()>& work);

} // namespace shard::cuda
