#pragma once

// Collectives over the device buffers of a group's members, enqueued on each member's
// stream. One driver (a host thread) may own every member (the emulation, or NCCL over all
// local GPUs from one thread) or only some (a thread or an MPI process per GPU): a call
// names the buffer of every member the driver owns, in member order. NCCL gets them inside
// one ncclGroupStart/End; the emulation runs one reduction or copy kernel over all of them.
#include "gpu_dtype.h"

#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shard::cuda {

class DeviceCollectives {
public:
    virtual ~DeviceCollectives() = default;

    virtual int size() const = 0;
    // True when the transfers are emulated on one GPU, so their time must come from the
    // cost model ("modeled"), not from the clock.
    virtual bool emulated() const = 0;
    virtual cudaStream_t stream(int member) const = 0;
    // Enqueues every later call on these streams (one per member; emulated: the first),
    // so communication can run on streams of its own beside the compute.
    virtual void set_streams(const std::vector<cudaStream_t>& streams) = 0;

    // Sum of `count` elements over the members, in place in every member's buffer.
    virtual void all_reduce(const std::vector<void*>& bufs, std::int64_t count, GpuDType type) = 0;
    // out (size x count) = every member's `count` elements, in member order.
    virtual void all_gather(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                            GpuDType type) = 0;
    // in (size x count): member i gets the sum of chunk i.
    virtual void reduce_scatter(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                                GpuDType type) = 0;
    // in (size x count): chunk j goes to member j; out (size x count): chunk i came from
    // member i (expert-parallel dispatch and combine). NCCL: grouped Send/Recv pairs.
    virtual void all_to_all(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                            GpuDType type) = 0;
    // Variable chunks (expert-parallel dispatch and combine), counts and offsets in elements,
    // per member this driver owns and per peer: member m sends send_counts[m][p] elements
    // from in[m] + send_offsets[m][p] to peer p, which receives them at
    // out[p] + recv_offsets[p][m] (recv_counts[p][m] of them). NCCL: grouped Send/Recv.
    using Counts = std::vector<std::vector<std::int64_t>>;
    virtual void all_to_allv(const std::vector<void*>& in, const Counts& send_counts, const Counts& send_offsets,
                             const std::vector<void*>& out, const Counts& recv_counts, const Counts& recv_offsets,
                             GpuDType type) = 0;
    // Every member's out (count elements) = member `root`'s in (only the root's is read):
    // the SUMMA broadcasts of X blocks along a grid row and W blocks down a column.
    virtual void broadcast(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                           GpuDType type, int root) = 0;
    // Member `from` sends `count` elements to member `to` (pipeline stage handoff). Bytes are
    // moved as they are, so int32 token ids travel as F32.
    virtual void send_recv(int from, const void* src, int to, void* dst, std::int64_t count, GpuDType type) = 0;
    // Waits for everything enqueued, turning a stuck or failed transfer into an Error after
    // `timeout_s` seconds.
    virtual void synchronize(double timeout_s) = 0;
};

// N virtual ranks on one device sharing one stream: collectives are reduction and copy
// kernels between the members' buffers.
std::unique_ptr<DeviceCollectives> make_emulated_collectives(int device, cudaStream_t stream, int members);

// One rank per device with NCCL: communicators from ncclCommInitAll, the tensor group
// split from them with ncclCommSplit; member i runs on devices[i] with streams[i].
std::unique_ptr<DeviceCollectives> make_nccl_collectives(const std::vector<int>& devices,
                                                         const std::vector<cudaStream_t>& streams);

// The bytes of an ncclUniqueId (NCCL_UNIQUE_ID_BYTES), so callers need not include nccl.h.
using NcclUniqueId = std::array<char, 128>;
NcclUniqueId nccl_unique_id();

// How a driver that owns only some ranks joins the world: every driver passes the same id
// (shared in memory between threads, or broadcast by MPI between processes).
struct NcclJoin {
    NcclUniqueId id{};
    int world_size = 0;
    std::vector<int> ranks; // the world rank of each of this driver's devices
};
// The world ranks of a driver's n devices: the join's, or 0..n-1 where the driver is the world.
std::vector<int> world_ranks(int n, const NcclJoin* join);

// The communicators of a mesh: this driver's ranks (rank i on devices[i], stream
// streams[i]) join one world (every rank here: ncclCommInitAll; with `join`:
// ncclCommInitRank), and each axis splits it with ncclCommSplit: world rank w joins group
// axis_colors[a][w] of axis a (-1: none), members in world-rank order. Returns, per axis,
// one DeviceCollectives per color 0, 1, ..., null where none of this driver's ranks is in it.
std::vector<std::vector<std::unique_ptr<DeviceCollectives>>>
make_nccl_axes(const std::vector<int>& devices, const std::vector<cudaStream_t>& streams,
               const std::vector<std::vector<int>>& axis_colors, const NcclJoin* join = nullptr);

// "2.28.3" or "not compiled"
std::string nccl_version();

} // namespace shard::cuda
