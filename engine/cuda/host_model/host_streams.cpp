// Streams, events and graphs of the host model of CUDA (see host_streams.h).
#include "host_streams.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

using Work = std::function<void()>;

// A stream as an event or a wait remembers it: streams may be destroyed first (their
// work has all run then, so whatever waits on them is satisfied).
struct StreamRef {
    cudaStream_t stream = nullptr;
    std::shared_ptr<const bool> alive;
    cudaStream_t get() const { return alive && *alive ? stream : nullptr; }
};

struct CUgraph_st {
    std::vector<Work> work;
};
struct CUgraphExec_st {
    std::vector<Work> work;
};
// Deferred work, or a wait for `wait_ticket` of `wait_on`'s work to have started.
struct Pending {
    Work work;
    StreamRef wait_on;
    unsigned long long wait_ticket = 0;
};
struct CUstream_st {
    std::deque<Pending> pending; // deferred mode: enqueued, not yet run
    unsigned long long enqueued = 0, started = 0;
    CUgraph_st* capture = nullptr; // the graph this stream's work goes into
    bool capture_origin = false;
    bool running = false; // its pending work is being run
    bool computes = false; // a cuBLAS handle works on it
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};
struct CUevent_st {
    std::chrono::steady_clock::time_point at{};
    StreamRef stream; // recorded on: complete once `ticket` of its work has started
    unsigned long long ticket = 0;
    CUgraph_st* capture = nullptr; // recorded during a capture: a stream that waits joins it
};

namespace shard::cuda::host {

namespace {

std::atomic<Schedule> current{Schedule::AtOnce};
std::mutex registry_mutex;
std::set<cudaStream_t> streams; // every stream, for drain_all
thread_local int captures = 0; // streams this thread captures from

// Runs a stream's pending work until `ticket` of it has started; says whether it got
// there. A wait first runs the stream it waits on as far ahead as that can go (not just
// to the event); a wait whose event has not been reached stops the stream. A stream whose
// work is running already is left alone: its work runs in order, from that drain.
bool drain(cudaStream_t stream, unsigned long long ticket)
{
    if (!stream || stream->running)
        return !stream || stream->started >= ticket;
    stream->running = true;
    struct Done {
        cudaStream_t s;
        ~Done() { s->running = false; }
    } done{stream};
    while (stream->started < ticket && !stream->pending.empty()) {
        Pending& next = stream->pending.front();
        if (const cudaStream_t from = next.wait_on.get()) {
            drain(from, ~0ull);
            if (from->started < next.wait_ticket)
                return false;
        }
        Work work = std::move(next.work);
        stream->pending.pop_front();
        ++stream->started;
        if (work)
            work();
    }
    return stream->started >= ticket;
}

cudaError_t unsafe_in_capture()
{
    return captures > 0 ? cudaErrorStreamCaptureUnsupported : cudaSuccess;
}

} // namespace

void set_schedule(Schedule schedule)
{
    drain_all();
    current = schedule;
}

bool deferred_streams()
{
    return current != Schedule::AtOnce;
}

void mark_compute_stream(cudaStream_t stream)
{
    if (stream)
        stream->computes = true;
}

bool capturing()
{
    return captures > 0;
}

void enqueue(cudaStream_t stream, Work work)
{
    if (stream && stream->capture) {
        stream->capture->work.push_back(std::move(work));
        return;
    }
    if (!deferred_streams() || !stream) {
        drain_all();
        work();
        return;
    }
    stream->pending.push_back({std::move(work), {}, 0});
    ++stream->enqueued;
    if (current == Schedule::ComputeLags && !stream->computes)
        drain(stream, stream->enqueued); // as far as its waits allow
}

void drain_all()
{
    if (!deferred_streams())
        return;
    std::vector<cudaStream_t> all;
    {
        std::lock_guard lock(registry_mutex);
        all.assign(streams.begin(), streams.end());
    }
    for (cudaStream_t s : all)
        drain(s, s->enqueued);
}

} // namespace shard::cuda::host

using namespace shard::cuda;

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned)
{
    *stream = new CUstream_st;
    std::lock_guard lock(host::registry_mutex);
    host::streams.insert(*stream);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    host::drain(stream, stream->enqueued);
    {
        std::lock_guard lock(host::registry_mutex);
        host::streams.erase(stream);
    }
    *stream->alive = false;
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    if (const cudaError_t status = host::unsafe_in_capture())
        return status;
    if (stream)
        host::drain(stream, stream->enqueued);
    else
        host::drain_all();
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream)
{
    return cudaStreamSynchronize(stream); // never "not ready": the work runs now
}

cudaError_t cudaDeviceSynchronize()
{
    if (const cudaError_t status = host::unsafe_in_capture())
        return status;
    host::drain_all();
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned)
{
    *event = new CUevent_st;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    host::drain(event->stream.get(), event->ticket); // its time stamp is pending there
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    if (stream && stream->capture) { // a node of the graph: streams that wait on it join the capture
        event->capture = stream->capture;
        return cudaSuccess;
    }
    event->capture = nullptr;
    host::enqueue(stream, [event] { event->at = std::chrono::steady_clock::now(); });
    event->stream = {stream, stream ? stream->alive : nullptr};
    event->ticket = stream ? stream->enqueued : 0;
    return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned)
{
    if (event->capture) {
        stream->capture = event->capture;
        return cudaSuccess;
    }
    if (stream && stream->capture)
        return cudaSuccess; // work before the capture began: the graph's launch follows it anyway
    // When the wait is reached, the stream the event is on runs as far ahead as it can,
    // not just to the event, so it also overwrites what a stream that should have waited
    // for it still reads.
    if (host::deferred_streams() && stream && event->stream.get() && event->stream.get() != stream) {
        stream->pending.push_back({{}, event->stream, event->ticket});
        ++stream->enqueued;
    }
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    if (const cudaError_t status = host::unsafe_in_capture())
        return status;
    host::drain(event->stream.get(), event->ticket);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end)
{
    host::drain(start->stream.get(), start->ticket);
    host::drain(end->stream.get(), end->ticket);
    *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode)
{
    if (!stream || stream->capture)
        return cudaErrorInvalidValue;
    stream->capture = new CUgraph_st;
    stream->capture_origin = true;
    ++host::captures;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph)
{
    if (!stream || !stream->capture || !stream->capture_origin)
        return cudaErrorInvalidValue;
    *graph = stream->capture;
    std::lock_guard lock(host::registry_mutex);
    for (cudaStream_t s : host::streams) // every stream that joined the capture leaves it
        if (s->capture == *graph)
            s->capture = nullptr;
    stream->capture = nullptr;
    stream->capture_origin = false;
    --host::captures;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long)
{
    *exec = new CUgraphExec_st{graph->work};
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete exec;
    return cudaSuccess;
}

// The captured work, in the order it was enqueued, on the launching stream.
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
    for (const Work& work : exec->work)
        host::enqueue(stream, work);
    return cudaSuccess;
}
