#pragma once

// Streams, events and graphs of the host model of CUDA. Two ways to run a stream's work:
//  - at once (the default): every call runs its work on the calling thread, in order.
//    Any number of host threads ("a thread per GPU") may call at once.
//  - deferred (one driver thread only): work waits in its stream until something needs it
//    (a synchronisation, a copy to the host, an event another stream waits on) and then
//    runs, streams one after another; a stream another waits on runs as far ahead as its
//    own waits allow. A stream that should have waited for another's event but did not
//    reads buffers the other has not written yet, or finds them overwritten by work that
//    ran ahead, so a missing cudaStreamWaitEvent shows as a wrong result, as on a GPU.
// Graph capture records the work enqueued on the capturing stream (and on streams that
// join it through an event) in enqueue order; a launch enqueues it again, with the
// arguments it was captured with. Unsafe calls during a capture (cudaMalloc, synchronous
// copies, synchronisations) fail with cudaErrorStreamCaptureUnsupported, as they do on a GPU.
#include "cuda_runtime_api.h"

#include <functional>

namespace shard::cuda::host {

void set_deferred_streams(bool deferred);
bool deferred_streams();

// Enqueues work on a stream (nullptr: the legacy default stream, which waits for every
// other stream's work and runs its own at once).
void enqueue(cudaStream_t stream, std::function<void()> work);
// Runs every stream's pending work (deferred mode).
void drain_all();
// Whether the calling thread captures a graph now (for the unsafe-call checks).
bool capturing();

} // namespace shard::cuda::host
