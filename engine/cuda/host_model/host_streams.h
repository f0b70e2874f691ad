#pragma once

// Streams, events and graphs of the host model of CUDA. How a stream's work runs:
//  - at once (the default): every call runs its work on the calling thread, in order.
//    Any number of host threads ("a thread per GPU") may call at once.
//  - lazily (one driver thread only): work waits in its stream until something needs it
//    (a synchronisation, a copy to the host, an event another stream waits on) and then
//    runs, streams one after another; a stream another waits on runs as far ahead as its
//    own waits allow. A stream that should have waited for another's event but did not
//    reads buffers the other has not written yet, or finds them overwritten by work that
//    ran ahead, so a missing cudaStreamWaitEvent shows as a wrong result, as on a GPU.
//  - compute lags (one driver thread only): the streams a cuBLAS handle was bound to run
//    lazily, the others (communication) as soon as their waits allow, so a collective
//    that should have waited for a GEMM runs before it.
// The two deferred schedules catch a missing wait whichever side of it should have waited.
// Graph capture records the work enqueued on the capturing stream (and on streams that
// join it through an event) in enqueue order; a launch enqueues it again, with the
// arguments it was captured with. Unsafe calls during a capture (cudaMalloc, synchronous
// copies, synchronisations) fail with cudaErrorStreamCaptureUnsupported, as they do on a GPU.
#include "cuda_runtime_api.h"

#include <functional>

namespace shard::cuda::host {

enum class Schedule { AtOnce, Lazy, ComputeLags };
void set_schedule(Schedule schedule);
bool deferred_streams(); // a schedule other than AtOnce
// A cuBLAS handle works on this stream (cublasSetStream): a compute stream.
void mark_compute_stream(cudaStream_t stream);

// Enqueues work on a stream (nullptr: the legacy default stream, which waits for every
// other stream's work and runs its own at once).
void enqueue(cudaStream_t stream, std::function<void()> work);
// Runs every stream's pending work (deferred mode).
void drain_all();
// Whether the calling thread captures a graph now (for the unsafe-call checks).
bool capturing();
// cudaMalloc / cudaMallocHost calls so far (from every thread).
long long allocations();

} // namespace shard::cuda::host
