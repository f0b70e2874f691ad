// A host model of the engine's NCCL communicators (engine/cuda/nccl_collectives.cpp), for
// the host-executed engine tests: the ranks of a world are the drivers that join it with
// one id (a host thread per "GPU"), or one driver with every rank. A group's collective
// runs once every driver holding members has called it, with everybody's buffers (a
// RendezvousGroup over an emulated group); a send / receive pairs its two sides only.
#include "device_collectives.h"
#include "host_streams.h"
#include "rendezvous_collectives.h"

#include "core/error.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>

namespace shard::cuda {

namespace {

// One group of a world: the collective every member joins, and the send / receive
// pairings of two of its members.
struct SharedGroup {
    std::unique_ptr<DeviceCollectives> inner; // over every member's buffers
    std::unique_ptr<RendezvousGroup> rendezvous; // a driver per member (joined worlds)
    std::mutex mutex;
    std::condition_variable changed;
    // Pending sends (from, to): the sender's buffer waits for the receiver's.
    std::map<std::pair<int, int>, const void*> sends;
    std::map<std::pair<int, int>, int> done;
};

struct World {
    std::mutex mutex;
    std::map<std::pair<std::size_t, int>, std::shared_ptr<SharedGroup>> groups; // (axis, color)
};

std::mutex registry_mutex;
std::map<NcclUniqueId, std::weak_ptr<World>> registry;

class HostNcclGroup final : public DeviceCollectives {
public:
    HostNcclGroup(std::shared_ptr<World> world, std::shared_ptr<SharedGroup> group, DeviceCollectives* face,
                  std::vector<int> members)
        : m_world(std::move(world))
        , m_group(std::move(group))
        , m_face(face)
        , m_members(std::move(members))
    { }

    int size() const override { return m_group->inner->size(); }
    bool emulated() const override { return false; } // timed like NCCL, on the host clock
    cudaStream_t stream(int) const override { return nullptr; }
    void set_streams(const std::vector<cudaStream_t>&) override { } // the host model runs work at once

    void all_reduce(const std::vector<void*>& bufs, std::int64_t count, GpuDType type) override
    {
        m_face->all_reduce(bufs, count, type);
    }
    void all_gather(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        m_face->all_gather(in, out, count, type);
    }
    void reduce_scatter(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                        GpuDType type) override
    {
        m_face->reduce_scatter(in, out, count, type);
    }
    void all_to_all(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        m_face->all_to_all(in, out, count, type);
    }
    void all_to_allv(const std::vector<void*>& in, const Counts& send_counts, const Counts& send_offsets,
                     const std::vector<void*>& out, const Counts& recv_counts, const Counts& recv_offsets,
                     GpuDType type) override
    {
        m_face->all_to_allv(in, send_counts, send_offsets, out, recv_counts, recv_offsets, type);
    }
    void broadcast(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count, GpuDType type,
                   int root) override
    {
        m_face->broadcast(in, out, count, type, root);
    }
    void send_recv(int from, const void* src, int to, void* dst, std::int64_t count, GpuDType type) override
    {
        const bool sends = owns(from), receives = owns(to);
        host::drain_all(); // deferred streams (one driver): the work before the copy runs first
        if (sends && receives) {
            std::memmove(dst, src, std::size_t(count) * element_size(type));
            return;
        }
        // Two drivers: the sender leaves its buffer, the receiver copies it and says so.
        SharedGroup& g = *m_group;
        std::unique_lock lock(g.mutex);
        const auto key = std::make_pair(from, to);
        if (sends) {
            g.sends[key] = src;
            g.changed.notify_all();
            const int before = g.done[key];
            g.changed.wait(lock, [&] { return g.done[key] != before; });
        } else if (receives) {
            g.changed.wait(lock, [&] { return g.sends.count(key) > 0; });
            std::memmove(dst, g.sends[key], std::size_t(count) * element_size(type));
            g.sends.erase(key);
            ++g.done[key];
            g.changed.notify_all();
        }
    }
    void synchronize(double) override { }

private:
    bool owns(int member) const { return std::find(m_members.begin(), m_members.end(), member) != m_members.end(); }

    std::shared_ptr<World> m_world;
    std::shared_ptr<SharedGroup> m_group;
    DeviceCollectives* m_face;
    std::vector<int> m_members; // this driver's members, as group indices
};

} // namespace

NcclUniqueId nccl_unique_id()
{
    static std::atomic<unsigned> next{1};
    NcclUniqueId id{};
    const unsigned n = next++;
    std::memcpy(id.data(), &n, sizeof(n));
    return id;
}

std::string nccl_version()
{
    return "host model";
}

std::vector<std::vector<std::unique_ptr<DeviceCollectives>>>
make_nccl_axes(const std::vector<int>& devices, const std::vector<cudaStream_t>&,
               const std::vector<std::vector<int>>& axis_colors, const NcclJoin* join)
{
    const int n = int(devices.size());
    const int world_size = join ? join->world_size : n;
    const std::vector<int> global = world_ranks(n, join);
    std::shared_ptr<World> world;
    {
        std::lock_guard lock(registry_mutex);
        if (join) {
            world = registry[join->id].lock();
            if (!world) {
                world = std::make_shared<World>();
                registry[join->id] = world;
            }
        } else {
            world = std::make_shared<World>();
        }
    }
    std::vector<std::vector<std::unique_ptr<DeviceCollectives>>> axes;
    for (std::size_t a = 0; a < axis_colors.size(); ++a) {
        const auto& colors = axis_colors[a];
        if (int(colors.size()) != world_size)
            throw Error("make_nccl_axes: " + std::to_string(colors.size()) + " colors for a world of "
                        + std::to_string(world_size) + " ranks");
        const int groups = colors.empty() ? 0 : *std::max_element(colors.begin(), colors.end()) + 1;
        std::vector<std::unique_ptr<DeviceCollectives>> axis(std::size_t(std::max(groups, 0)));
        for (int c = 0; c < groups; ++c) {
            const int size = int(std::count(colors.begin(), colors.end(), c));
            std::vector<int> mine; // this driver's members, as group indices
            for (int i = 0; i < n; ++i) {
                const int g = global[std::size_t(i)];
                if (colors[std::size_t(g)] == c)
                    mine.push_back(int(std::count(colors.begin(), colors.begin() + g, c)));
            }
            if (mine.empty())
                continue;
            std::shared_ptr<SharedGroup> group;
            {
                std::lock_guard lock(world->mutex);
                auto& slot = world->groups[{a, c}];
                if (!slot) {
                    slot = std::make_shared<SharedGroup>();
                    slot->inner = make_emulated_collectives(0, nullptr, size);
                    // Joined worlds: a driver per member (a thread or process per GPU).
                    if (join)
                        slot->rendezvous =
                            std::make_unique<RendezvousGroup>(*slot->inner, std::vector<int>(std::size_t(size), 1));
                }
                group = slot;
            }
            if (join && mine.size() != 1)
                throw Error("the host model of NCCL joins one rank per driver");
            DeviceCollectives* face = join ? group->rendezvous->view(mine.front()) : group->inner.get();
            axis[std::size_t(c)] = std::make_unique<HostNcclGroup>(world, group, face, std::move(mine));
        }
        axes.push_back(std::move(axis));
    }
    return axes;
}

} // namespace shard::cuda
