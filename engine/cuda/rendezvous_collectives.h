#pragma once

// A group whose members are driven by several callers of one process: the expert groups of
// a plan whose experts span data-parallel replicas, when one driver (the emulation, or one
// host thread over all local GPUs) runs every replica, each replica's GpuModel from its own
// host thread. Each caller gets a view; a call deposits the caller's buffers, and the last
// caller to arrive runs the collective once, with everybody's buffers in member order, on
// the group it wraps; then every caller returns. Work a caller enqueues before a call is
// enqueued before the collective, and work after it after, as on one stream in order.
// A caller that fails calls abort(), so the others throw instead of waiting for ever.
#include "device_collectives.h"

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>

namespace shard::cuda {

class RendezvousGroup {
public:
    // `inner` takes the buffers of all its members; caller c drives the next
    // members_per_caller[c] of them, callers in member order.
    RendezvousGroup(DeviceCollectives& inner, std::vector<int> members_per_caller);
    ~RendezvousGroup();
    RendezvousGroup(const RendezvousGroup&) = delete;
    RendezvousGroup& operator=(const RendezvousGroup&) = delete;

    // Caller c's face of the group (owned by the group).
    DeviceCollectives* view(int caller) const;
    int callers() const { return int(m_members.size()); }
    // Wakes every waiting caller with an Error naming `why`; later calls throw it too.
    void abort(const std::string& why);

    // Every member's arguments of one call, in member order (what a view deposits).
    struct Args {
        std::vector<void*> in, out;
        DeviceCollectives::Counts send_counts, send_offsets, recv_counts, recv_offsets;
    };
    // The collective, once every caller has deposited its `mine`: runs `call` with all of
    // them merged, on the last caller's thread.
    void meet(int caller, const std::string& what, Args mine, const std::function<void(const Args&)>& call);
    DeviceCollectives& inner() const { return m_inner; }

private:
    DeviceCollectives& m_inner;
    std::vector<int> m_members;
    std::vector<std::unique_ptr<DeviceCollectives>> m_views;
    std::mutex m_mutex;
    std::condition_variable m_arrived;
    std::vector<Args> m_deposits;
    std::vector<bool> m_present;
    int m_waiting = 0;
    std::uint64_t m_generation = 0;
    std::string m_what; // the call under way (every caller must make the same one)
    std::exception_ptr m_error; // of the last round's call, for every caller
    std::string m_abort;
};

} // namespace shard::cuda
