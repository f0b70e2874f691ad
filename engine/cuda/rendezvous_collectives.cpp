#include "rendezvous_collectives.h"

#include "core/error.h"

namespace shard::cuda {

namespace {

RendezvousGroup::Args buffers(const std::vector<void*>& in, const std::vector<void*>& out)
{
    RendezvousGroup::Args args;
    args.in = in;
    args.out = out;
    return args;
}

class RendezvousView final : public DeviceCollectives {
public:
    RendezvousView(RendezvousGroup& group, int caller)
        : m_group(group)
        , m_caller(caller)
    { }

    int size() const override { return m_group.inner().size(); }
    bool emulated() const override { return m_group.inner().emulated(); }
    cudaStream_t stream(int member) const override { return m_group.inner().stream(member); }
    void set_streams(const std::vector<cudaStream_t>&) override
    {
        throw Error("a group shared by several replicas keeps its streams (overlap is off for expert parallelism)");
    }

    void all_reduce(const std::vector<void*>& bufs, std::int64_t count, GpuDType type) override
    {
        meet("all_reduce", buffers(bufs, {}),
             [&](const RendezvousGroup::Args& a) { m_group.inner().all_reduce(a.in, count, type); });
    }
    void all_gather(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        meet("all_gather", buffers(in, out),
             [&](const RendezvousGroup::Args& a) { m_group.inner().all_gather(a.in, a.out, count, type); });
    }
    void reduce_scatter(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                        GpuDType type) override
    {
        meet("reduce_scatter", buffers(in, out),
             [&](const RendezvousGroup::Args& a) { m_group.inner().reduce_scatter(a.in, a.out, count, type); });
    }
    void all_to_all(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count,
                    GpuDType type) override
    {
        meet("all_to_all", buffers(in, out),
             [&](const RendezvousGroup::Args& a) { m_group.inner().all_to_all(a.in, a.out, count, type); });
    }
    void all_to_allv(const std::vector<void*>& in, const Counts& send_counts, const Counts& send_offsets,
                     const std::vector<void*>& out, const Counts& recv_counts, const Counts& recv_offsets,
                     GpuDType type) override
    {
        RendezvousGroup::Args args = buffers(in, out);
        args.send_counts = send_counts;
        args.send_offsets = send_offsets;
        args.recv_counts = recv_counts;
        args.recv_offsets = recv_offsets;
        meet("all_to_allv", std::move(args), [&](const RendezvousGroup::Args& a) {
            m_group.inner().all_to_allv(a.in, a.send_counts, a.send_offsets, a.out, a.recv_counts, a.recv_offsets,
                                        type);
        });
    }
    void broadcast(const std::vector<void*>& in, const std::vector<void*>& out, std::int64_t count, GpuDType type,
                   int root) override
    {
        meet("broadcast", buffers(in, out),
             [&](const RendezvousGroup::Args& a) { m_group.inner().broadcast(a.in, a.out, count, type, root); });
    }
    void send_recv(int from, const void* src, int to, void* dst, std::int64_t count, GpuDType type) override
    {
        // One member sends, one receives: each side deposits what it drives (or null).
        meet("send_recv", buffers({const_cast<void*>(src)}, {dst}), [&](const RendezvousGroup::Args& a) {
            const void* s = nullptr;
            void* d = nullptr;
            for (std::size_t i = 0; i < a.in.size(); ++i) {
                s = a.in[i] ? a.in[i] : s;
                d = a.out[i] ? a.out[i] : d;
            }
            m_group.inner().send_recv(from, s, to, d, count, type);
        });
    }
    void synchronize(double timeout_s) override { m_group.inner().synchronize(timeout_s); }

private:
    void meet(const char* what, RendezvousGroup::Args mine,
              const std::function<void(const RendezvousGroup::Args&)>& call)
    {
        m_group.meet(m_caller, what, std::move(mine), call);
    }

    RendezvousGroup& m_group;
    int m_caller;
};

void append(std::vector<void*>& to, const std::vector<void*>& from)
{
    to.insert(to.end(), from.begin(), from.end());
}

void append(DeviceCollectives::Counts& to, const DeviceCollectives::Counts& from)
{
    to.insert(to.end(), from.begin(), from.end());
}

} // namespace

RendezvousGroup::RendezvousGroup(DeviceCollectives& inner, std::vector<int> members_per_caller)
    : m_inner(inner)
    , m_members(std::move(members_per_caller))
    , m_deposits(m_members.size())
    , m_present(m_members.size(), false)
{
    int total = 0;
    for (const int n : m_members)
        total += n;
    if (total != inner.size())
        throw Error("a shared group of " + std::to_string(inner.size()) + " members was split into "
                    + std::to_string(total));
    for (int c = 0; c < int(m_members.size()); ++c)
        m_views.push_back(std::make_unique<RendezvousView>(*this, c));
}

RendezvousGroup::~RendezvousGroup() = default;

DeviceCollectives* RendezvousGroup::view(int caller) const
{
    return m_views.at(std::size_t(caller)).get();
}

void RendezvousGroup::abort(const std::string& why)
{
    std::lock_guard lock(m_mutex);
    if (m_abort.empty())
        m_abort = why;
    m_arrived.notify_all();
}

void RendezvousGroup::meet(int caller, const std::string& what, Args mine, const std::function<void(const Args&)>& call)
{
    std::unique_lock lock(m_mutex);
    if (!m_abort.empty())
        throw Error(m_abort);
    if (m_present.at(std::size_t(caller)))
        throw Error("replica " + std::to_string(caller) + " called " + what + " twice in one round of a shared group");
    if (int(mine.in.size()) != m_members[std::size_t(caller)] && what != "send_recv")
        throw Error("replica " + std::to_string(caller) + " gave " + std::to_string(mine.in.size()) + " buffers to "
                    + what + " for its " + std::to_string(m_members[std::size_t(caller)]) + " members");
    if (m_waiting == 0)
        m_what = what;
    else if (m_what != what)
        throw Error("the replicas of a shared group disagree: " + m_what + " against " + what);
    m_deposits[std::size_t(caller)] = std::move(mine);
    m_present[std::size_t(caller)] = true;
    if (++m_waiting < callers()) {
        const std::uint64_t round = m_generation;
        m_arrived.wait(lock, [&] { return m_generation != round || !m_abort.empty(); });
        if (m_generation == round)
            throw Error(m_abort);
        if (m_error)
            std::rethrow_exception(m_error);
        return;
    }
    // The last to arrive: every member's arguments, in member order, once.
    Args all;
    for (const Args& a : m_deposits) {
        append(all.in, a.in);
        append(all.out, a.out);
        append(all.send_counts, a.send_counts);
        append(all.send_offsets, a.send_offsets);
        append(all.recv_counts, a.recv_counts);
        append(all.recv_offsets, a.recv_offsets);
    }
    m_error = nullptr;
    try {
        call(all);
    } catch (...) {
        m_error = std::current_exception();
    }
    m_deposits.assign(m_deposits.size(), Args{});
    m_present.assign(m_present.size(), false);
    m_waiting = 0;
    ++m_generation;
    m_arrived.notify_all();
    if (m_error)
        std::rethrow_exception(m_error);
}

} // namespace shard::cuda
