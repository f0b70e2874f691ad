// NCCL implementation of DeviceCollectives: one communicator per rank a driver owns, its
// calls grouped so one host thread can drive several GPUs.
#include "device_collectives.h"

#include "cuda_check.h"
#include "device_resources.h"

#include <algorithm>
#include <cstring>

#ifdef SHARDSTUDIO_HAVE_NCCL
#include <nccl.h>

#define SHARD_NCCL_CHECK(call)                                                                                         \
    do {                                                                                                               \
        const ncclResult_t shard_status_ = (call);                                                                     \
        if (shard_status_ != ncclSuccess)                                                                              \
            throw ::shard::cuda::CudaError(std::string(#call) + " failed: " + ncclGetErrorString(shard_status_) + " (" \
                                           + ncclGetLastError(nullptr) + ") at " + __FILE__ + ":"                      \
                                           + std::to_string(__LINE__));                                                \
    } while (0)
#endif

namespace shard::cuda {

#ifdef SHARDSTUDIO_HAVE_NCCL

namespace {

ncclDataType_t nccl_type(GpuDType type)
{
    switch (type) {
    case GpuDType::F32:
        return ncclFloat32;
    case GpuDType::F16:
        return ncclFloat16;
    case GpuDType::BF16:
        return ncclBfloat16;
    }
    return ncclFloat32;
}

// The members of one communicator that this process (or thread) drives: local slot i is
// group member members[i] on devices[i] with streams[i]. Buffers passed in are per local
// slot; a process drives every member (one thread, ncclCommInitAll) or some of them (a
// thread or an MPI process per GPU, ncclCommInitRank).
class NcclCollectives final : public DeviceCollectives {
public:
    NcclCollectives(int size, std::vector<int> members, std::vector<ncclComm_t> comms, std::vector<int> devices,
                    std::vector<cudaStream_t> streams)
        : m_size(size)
        , m_members(std::move(members))
        , m_devices(std::move(devices))
        , m_streams(std::move(streams))
        , m_comms(std::move(comms))
    { }

    ~NcclCollectives() override
    {
        for (auto comm : m_comms)
            if (comm)
                m_aborted ? ncclCommAbort(comm) : ncclCommDestroy(comm);
    }

    int size() const override { return m_size; }
    bool emulated() const override { return false; }
    cudaStream_t stream(int member) const override { return m_streams.at(std::size_t(slot_of(member))); }
    void set_streams(const std::vector<cudaStream_t>& streams) override
    {
        if (streams.size() != m_streams.size())
            throw Error("set_streams: " + std::to_string(streams.size()) + " streams for "
                        + std::to_string(m_streams.size()) + " local members");
        m_streams = streams;
    }

    void all_reduce(const std::vector<void*>& bufs, std::int64_t count, GpuDType type) override
    {
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < local(); ++r)
            SHARD_NCCL_CHECK(ncclAllReduce(bufs[r], bufs[r], std::size_t(count), nccl_type(type), ncclSum, m_comms[r],
                                           m_streams[r]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void all_gather(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < local(); ++r)
            SHARD_NCCL_CHECK(
                ncclAllGather(in[r], out[r], std::size_t(count), nccl_type(type), m_comms[r], m_streams[r]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void reduce_scatter(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                        GpuDType type) override
    {
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < local(); ++r)
            SHARD_NCCL_CHECK(ncclReduceScatter(in[r], out[r], std::size_t(count), nccl_type(type), ncclSum, m_comms[r],
                                               m_streams[r]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void all_to_all(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        // NCCL has no all-to-all call: every pair exchanges one chunk, all in one group so the
        // sends and receives of every member are matched together.
        const std::size_t bytes = std::size_t(count) * element_size(type);
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < local(); ++r)
            for (int peer = 0; peer < size(); ++peer) {
                SHARD_NCCL_CHECK(ncclSend(static_cast<const char*>(in[r]) + std::size_t(peer) * bytes,
                                          std::size_t(count), nccl_type(type), peer, m_comms[r], m_streams[r]));
                SHARD_NCCL_CHECK(ncclRecv(static_cast<char*>(out[r]) + std::size_t(peer) * bytes, std::size_t(count),
                                          nccl_type(type), peer, m_comms[r], m_streams[r]));
            }
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void all_to_allv(const std::vector<void*>& in, const Counts& send_counts, const Counts& send_offsets,
                     const std::vector<void*>& out, const Counts& recv_counts, const Counts& recv_offsets,
                     GpuDType type) override
    {
        // Pairs that move nothing are skipped on both sides (the counts agree by construction).
        const std::size_t e = element_size(type);
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < local(); ++r)
            for (int peer = 0; peer < size(); ++peer) {
                const std::int64_t sent = send_counts[std::size_t(r)][std::size_t(peer)];
                const std::int64_t received = recv_counts[std::size_t(r)][std::size_t(peer)];
                if (sent > 0)
                    SHARD_NCCL_CHECK(ncclSend(static_cast<const char*>(in[std::size_t(r)])
                                                  + std::size_t(send_offsets[std::size_t(r)][std::size_t(peer)]) * e,
                                              std::size_t(sent), nccl_type(type), peer, m_comms[r], m_streams[r]));
                if (received > 0)
                    SHARD_NCCL_CHECK(ncclRecv(static_cast<char*>(out[std::size_t(r)])
                                                  + std::size_t(recv_offsets[std::size_t(r)][std::size_t(peer)]) * e,
                                              std::size_t(received), nccl_type(type), peer, m_comms[r], m_streams[r]));
            }
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void broadcast(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count, GpuDType type,
                   int root) override
    {
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int r = 0; r < local(); ++r)
            SHARD_NCCL_CHECK(ncclBroadcast(in[std::size_t(r)], out[std::size_t(r)], std::size_t(count), nccl_type(type),
                                           root, m_comms[r], m_streams[r]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void send_recv(int from, const void* src, int to, void* dst, std::int64_t count, GpuDType type) override
    {
        // Each side is issued by whoever drives it; a side driven elsewhere is skipped here.
        const int sender = slot_of(from), receiver = slot_of(to);
        SHARD_NCCL_CHECK(ncclGroupStart());
        if (sender >= 0)
            SHARD_NCCL_CHECK(
                ncclSend(src, std::size_t(count), nccl_type(type), to, m_comms[sender], m_streams[sender]));
        if (receiver >= 0)
            SHARD_NCCL_CHECK(
                ncclRecv(dst, std::size_t(count), nccl_type(type), from, m_comms[receiver], m_streams[receiver]));
        SHARD_NCCL_CHECK(ncclGroupEnd());
    }

    void synchronize(double timeout_s) override
    {
        auto poll = [this] {
            for (int r = 0; r < local(); ++r) {
                ncclResult_t async = ncclSuccess;
                ncclCommGetAsyncError(m_comms[r], &async);
                if (async != ncclSuccess && async != ncclInProgress) {
                    m_aborted = true;
                    throw CudaError("NCCL reported an asynchronous error on rank " + std::to_string(m_members[r])
                                    + " of " + std::to_string(m_size) + ": " + ncclGetErrorString(async));
                }
            }
        };
        for (int r = 0; r < local(); ++r) {
            DeviceGuard guard(m_devices[r]);
            try {
                wait_stream(m_streams[r], timeout_s, poll);
            } catch (...) {
                m_aborted = true;
                throw;
            }
        }
    }

private:
    int local() const { return int(m_comms.size()); }
    int slot_of(int member) const
    {
        const auto it = std::find(m_members.begin(), m_members.end(), member);
        return it == m_members.end() ? -1 : int(it - m_members.begin());
    }

    int m_size = 0;
    std::vector<int> m_members;
    std::vector<int> m_devices;
    std::vector<cudaStream_t> m_streams;
    std::vector<ncclComm_t> m_comms;
    bool m_aborted = false;
};

} // namespace

NcclUniqueId nccl_unique_id()
{
    static_assert(sizeof(ncclUniqueId) == std::tuple_size_v<NcclUniqueId>, "NcclUniqueId must hold an ncclUniqueId");
    ncclUniqueId id;
    SHARD_NCCL_CHECK(ncclGetUniqueId(&id));
    NcclUniqueId out;
    std::memcpy(out.data(), &id, sizeof(id));
    return out;
}

std::vector<std::vector<std::unique_ptr<DeviceCollectives>>>
make_nccl_axes(const std::vector<int>& devices, const std::vector<cudaStream_t>& streams,
               const std::vector<std::vector<int>>& axis_colors, const NcclJoin* join)
{
    const int n = int(devices.size());
    const int world_size = join ? join->world_size : n;
    const std::vector<int> global = world_ranks(n, join);
    std::vector<ncclComm_t> world(std::size_t(n), nullptr);
    if (join) {
        // Every rank of the world calls ncclCommInitRank with the same id; one driver of
        // several local ranks groups its calls.
        ncclUniqueId id;
        std::memcpy(&id, join->id.data(), sizeof(id));
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int i = 0; i < n; ++i) {
            DeviceGuard guard(devices[std::size_t(i)]);
            SHARD_NCCL_CHECK(ncclCommInitRank(&world[std::size_t(i)], world_size, id, global[std::size_t(i)]));
        }
        SHARD_NCCL_CHECK(ncclGroupEnd());
    } else {
        SHARD_NCCL_CHECK(ncclCommInitAll(world.data(), n, devices.data()));
    }
    struct WorldGuard { // the world only seeds the splits
        std::vector<ncclComm_t>& comms;
        ~WorldGuard()
        {
            for (auto comm : comms)
                if (comm)
                    ncclCommDestroy(comm);
        }
    } guard{world};
    std::vector<std::vector<std::unique_ptr<DeviceCollectives>>> axes;
    for (const auto& colors : axis_colors) {
        if (int(colors.size()) != world_size)
            throw Error("make_nccl_axes: " + std::to_string(colors.size()) + " colors for a world of "
                        + std::to_string(world_size) + " ranks");
        // Every rank of the parent calls ncclCommSplit (key: its world rank, so members keep
        // world order); a driver of several ranks groups its calls.
        std::vector<ncclComm_t> split(std::size_t(n), nullptr);
        SHARD_NCCL_CHECK(ncclGroupStart());
        for (int i = 0; i < n; ++i) {
            const int color = colors[std::size_t(global[std::size_t(i)])];
            SHARD_NCCL_CHECK(ncclCommSplit(world[std::size_t(i)], color < 0 ? NCCL_SPLIT_NOCOLOR : color,
                                           global[std::size_t(i)], &split[std::size_t(i)], nullptr));
        }
        SHARD_NCCL_CHECK(ncclGroupEnd());
        const int groups = colors.empty() ? 0 : *std::max_element(colors.begin(), colors.end()) + 1;
        std::vector<std::unique_ptr<DeviceCollectives>> axis(std::size_t(std::max(groups, 0)));
        for (int c = 0; c < groups; ++c) {
            const int size = int(std::count(colors.begin(), colors.end(), c));
            std::vector<int> members, member_devices;
            std::vector<ncclComm_t> comms;
            std::vector<cudaStream_t> member_streams;
            for (int i = 0; i < n; ++i) {
                const int g = global[std::size_t(i)];
                if (colors[std::size_t(g)] != c)
                    continue;
                members.push_back(int(std::count(colors.begin(), colors.begin() + g, c))); // its index in the group
                comms.push_back(split[std::size_t(i)]);
                member_devices.push_back(devices[std::size_t(i)]);
                member_streams.push_back(streams[std::size_t(i)]);
            }
            if (!comms.empty())
                axis[std::size_t(c)] = std::make_unique<NcclCollectives>(
                    size, std::move(members), std::move(comms), std::move(member_devices), std::move(member_streams));
        }
        axes.push_back(std::move(axis));
    }
    return axes;
}

std::string nccl_version()
{
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess)
        return "unknown";
    return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
}

#else

NcclUniqueId nccl_unique_id()
{
    throw Error("this build of the CUDA engine has no NCCL: multi-GPU runs need NCCL (use --backend cuda-emulated)");
}

std::vector<std::vector<std::unique_ptr<DeviceCollectives>>> make_nccl_axes(const std::vector<int>&,
                                                                            const std::vector<cudaStream_t>&,
                                                                            const std::vector<std::vector<int>>&,
                                                                            const NcclJoin*)
{
    throw Error("this build of the CUDA engine has no NCCL: multi-GPU runs need NCCL (use --backend cuda-emulated)");
}

std::string nccl_version()
{
    return "not compiled";
}

#endif

} // namespace shard::cuda
