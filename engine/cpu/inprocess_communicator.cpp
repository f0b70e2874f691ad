#include "inprocess_communicator.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace shard {

// ------------------------------------------------------------------ world

InProcessWorld::InProcessWorld(int ranks)
    : m_ranks(ranks)
{ }

void InProcessWorld::post(int group_id, int from, int to, std::span<const float> data)
{
    {
        std::lock_guard lock(m_mutex);
        m_channels[{group_id, from, to}].emplace_back(data.begin(), data.end());
    }
    m_arrived.notify_all();
}

std::vector<float> InProcessWorld::take(int group_id, int from, int to)
{
    std::unique_lock lock(m_mutex);
    auto& queue = m_channels[{group_id, from, to}];
    m_arrived.wait(lock, [&] { return !queue.empty() || m_aborted.load(); });
    if (m_aborted.load())
        throw Aborted("stopped because another rank failed: " + m_reason);
    std::vector<float> message = std::move(queue.front());
    queue.pop_front();
    return message;
}

void InProcessWorld::abort(const std::string& reason)
{
    {
        std::lock_guard lock(m_mutex);
        if (!m_aborted.load())
            m_reason = reason;
        m_aborted.store(true);
    }
    m_arrived.notify_all();
}

std::string InProcessWorld::abort_reason() const
{
    return m_reason;
}

// ------------------------------------------------------------------ communicator

struct InProcessCommunicator::Call {
    Call(InProcessCommunicator& comm, CollectiveKind kind, std::int64_t payload_bytes)
        : m_comm(comm)
        , m_start(std::chrono::steady_clock::now())
    {
        record.kind = kind;
        record.group = comm.m_name;
        record.group_size = comm.size();
        record.payload = payload_bytes;
    }
    ~Call()
    {
        record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
        record.control = m_comm.m_control;
        if (m_comm.m_log) {
            record.step = m_comm.m_log->step;
            record.start_us = std::chrono::duration<double, std::micro>(m_start - m_comm.m_log->epoch).count();
            m_comm.m_log->records.push_back(record);
        }
        m_comm.m_records.push_back(record);
    }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    CollectiveRecord record;

private:
    InProcessCommunicator& m_comm;
    std::chrono::steady_clock::time_point m_start;
};

namespace {

constexpr std::int64_t kFloat = sizeof(float);

int mod(int a, int n)
{
    return ((a % n) + n) % n;
}

std::vector<std::int64_t> even_offsets(std::int64_t elements, int n)
{
    std::vector<std::int64_t> offsets(n + 1);
    for (int i = 0; i <= n; ++i)
        offsets[i] = elements * i / n;
    return offsets;
}

} // namespace

InProcessCommunicator::InProcessCommunicator(InProcessWorld& world, int group_id, std::string name,
                                             std::vector<int> members, int self, RankLog* log, bool control)
    : m_world(world)
    , m_group(group_id)
    , m_name(std::move(name))
    , m_members(std::move(members))
    , m_self(self)
    , m_log(log)
    , m_control(control)
{ }

void InProcessCommunicator::post(int peer, std::span<const float> data, std::int64_t& sent)
{
    if (m_world.aborted())
        throw Aborted("stopped because another rank failed: " + m_world.abort_reason());
    m_world.post(m_group, m_members[m_self], m_members[peer], data);
    sent += std::int64_t(data.size()) * kFloat;
}

std::vector<float> InProcessCommunicator::take(int peer, std::int64_t& received)
{
    auto message = m_world.take(m_group, m_members[peer], m_members[m_self]);
    received += std::int64_t(message.size()) * kFloat;
    return message;
}

void InProcessCommunicator::ring_reduce_scatter(std::span<float> data, const std::vector<std::int64_t>& offsets,
                                                CollectiveRecord& r)
{
    const int n = size();
    const int right = mod(m_self + 1, n);
    const int left = mod(m_self - 1, n);
    // The shift makes rank r end with chunk r (plain ReduceScatter) or r + 1 (AllReduce).
    const int shift = r.kind == CollectiveKind::ReduceScatter ? n - 1 : 0;
    for (int s = 0; s < n - 1; ++s) {
        const int send_chunk = mod(m_self + shift - s, n);
        const int recv_chunk = mod(m_self + shift - s - 1, n);
        post(right, data.subspan(offsets[send_chunk], offsets[send_chunk + 1] - offsets[send_chunk]), r.sent);
        const auto incoming = take(left, r.received);
        float* target = data.data() + offsets[recv_chunk];
        for (std::size_t i = 0; i < incoming.size(); ++i)
            target[i] += incoming[i];
    }
}

void InProcessCommunicator::ring_all_gather(std::span<float> data, const std::vector<std::int64_t>& offsets,
                                            int owned_shift, CollectiveRecord& r)
{
    const int n = size();
    const int right = mod(m_self + 1, n);
    const int left = mod(m_self - 1, n);
    for (int s = 0; s < n - 1; ++s) {
        const int send_chunk = mod(m_self + owned_shift - s, n);
        const int recv_chunk = mod(m_self + owned_shift - s - 1, n);
        post(right, data.subspan(offsets[send_chunk], offsets[send_chunk + 1] - offsets[send_chunk]), r.sent);
        const auto incoming = take(left, r.received);
        std::copy(incoming.begin(), incoming.end(), data.begin() + offsets[recv_chunk]);
    }
}

void InProcessCommunicator::all_reduce(std::span<float> data)
{
    Call call(*this, CollectiveKind::AllReduce, std::int64_t(data.size()) * kFloat);
    if (size() == 1)
        return;
    const auto offsets = even_offsets(std::int64_t(data.size()), size());
    ring_reduce_scatter(data, offsets, call.record);
    ring_all_gather(data, offsets, 1, call.record); // rank r owns the reduced chunk r + 1
}

void InProcessCommunicator::all_gather(std::span<const float> in, std::span<float> out)
{
    Call call(*this, CollectiveKind::AllGather, std::int64_t(out.size()) * kFloat);
    if (out.size() != in.size() * size())
        throw std::invalid_argument("all_gather: output must hold size x input elements");
    std::copy(in.begin(), in.end(), out.begin() + std::int64_t(in.size()) * m_self);
    if (size() > 1)
        ring_all_gather(out, even_offsets(std::int64_t(out.size()), size()), 0, call.record);
}

void InProcessCommunicator::reduce_scatter(std::span<const float> in, std::span<float> out)
{
    Call call(*this, CollectiveKind::ReduceScatter, std::int64_t(in.size()) * kFloat);
    if (in.size() != out.size() * size())
        throw std::invalid_argument("reduce_scatter: input must hold size x output elements");
    std::vector<float> work(in.begin(), in.end());
    const auto offsets = even_offsets(std::int64_t(work.size()), size());
    if (size() > 1)
        ring_reduce_scatter(work, offsets, call.record);
    std::copy(work.begin() + offsets[m_self], work.begin() + offsets[m_self + 1], out.begin());
}

void InProcessCommunicator::broadcast(std::span<float> data, int root)
{
    Call call(*this, CollectiveKind::Broadcast, std::int64_t(data.size()) * kFloat);
    if (size() == 1)
        return;
    if (m_self == root) {
        for (int peer = 0; peer < size(); ++peer) {
            if (peer != root)
                post(peer, data, call.record.sent);
        }
    } else {
        const auto incoming = take(root, call.record.received);
        std::copy(incoming.begin(), incoming.end(), data.begin());
    }
}

void InProcessCommunicator::all_to_all(std::span<const float> in, std::span<float> out)
{
    const int n = size();
    if (in.size() % n != 0 || out.size() != in.size())
        throw std::invalid_argument("all_to_all: buffers must be equal and divide into size chunks");
    const std::vector<std::int64_t> counts(n, std::int64_t(in.size()) / n);
    all_to_allv(in, counts, out, counts);
}

void InProcessCommunicator::all_to_allv(std::span<const float> in, const std::vector<std::int64_t>& send_counts,
                                        std::span<float> out, const std::vector<std::int64_t>& recv_counts)
{
    // With both sides known the receive buffer is the size (an MoE combine returns exactly
    // the slots a rank dispatched, whatever it sends back).
    Call call(*this, CollectiveKind::AllToAll, std::int64_t(out.size()) * kFloat);
    const int n = size();
    std::vector<std::int64_t> send_offsets(n + 1, 0);
    std::vector<std::int64_t> recv_offsets(n + 1, 0);
    for (int i = 0; i < n; ++i) {
        send_offsets[i + 1] = send_offsets[i] + send_counts[i];
        recv_offsets[i + 1] = recv_offsets[i] + recv_counts[i];
    }
    for (int peer = 0; peer < n; ++peer) {
        if (peer != m_self)
            post(peer, in.subspan(send_offsets[peer], send_counts[peer]), call.record.sent);
    }
    std::copy(in.begin() + send_offsets[m_self], in.begin() + send_offsets[m_self + 1],
              out.begin() + recv_offsets[m_self]);
    for (int peer = 0; peer < n; ++peer) {
        if (peer == m_self)
            continue;
        const auto incoming = take(peer, call.record.received);
        if (std::int64_t(incoming.size()) != recv_counts[peer])
            throw std::invalid_argument("all_to_allv: rank " + std::to_string(peer) + " sent "
                                        + std::to_string(incoming.size()) + " elements, expected "
                                        + std::to_string(recv_counts[peer]));
        std::copy(incoming.begin(), incoming.end(), out.begin() + recv_offsets[peer]);
    }
}

std::vector<float> InProcessCommunicator::all_to_allv(std::span<const float> in,
                                                      const std::vector<std::int64_t>& send_counts,
                                                      std::vector<std::int64_t>& recv_counts)
{
    Call call(*this, CollectiveKind::AllToAll, std::int64_t(in.size()) * kFloat);
    const int n = size();
    std::vector<std::int64_t> offsets(n + 1, 0);
    for (int i = 0; i < n; ++i)
        offsets[i + 1] = offsets[i] + send_counts[i];
    for (int peer = 0; peer < n; ++peer) {
        if (peer != m_self)
            post(peer, in.subspan(offsets[peer], send_counts[peer]), call.record.sent);
    }
    recv_counts.assign(n, 0);
    std::vector<float> out;
    for (int peer = 0; peer < n; ++peer) {
        if (peer == m_self) {
            out.insert(out.end(), in.begin() + offsets[peer], in.begin() + offsets[peer + 1]);
            recv_counts[peer] = send_counts[peer];
        } else {
            const auto incoming = take(peer, call.record.received);
            recv_counts[peer] = std::int64_t(incoming.size());
            out.insert(out.end(), incoming.begin(), incoming.end());
        }
    }
    return out;
}

void InProcessCommunicator::send(std::span<const float> data, int peer)
{
    Call call(*this, CollectiveKind::SendRecv, std::int64_t(data.size()) * kFloat);
    post(peer, data, call.record.sent);
}

void InProcessCommunicator::recv(std::span<float> data, int peer)
{
    Call call(*this, CollectiveKind::SendRecv, std::int64_t(data.size()) * kFloat);
    const auto incoming = take(peer, call.record.received);
    if (incoming.size() != data.size())
        throw std::invalid_argument("recv: expected " + std::to_string(data.size()) + " elements, got "
                                    + std::to_string(incoming.size()));
    std::copy(incoming.begin(), incoming.end(), data.begin());
}

void InProcessCommunicator::barrier()
{
    std::int64_t ignored = 0;
    for (int peer = 0; peer < size(); ++peer) {
        if (peer != m_self)
            post(peer, {}, ignored);
    }
    for (int peer = 0; peer < size(); ++peer) {
        if (peer != m_self)
            take(peer, ignored);
    }
}

} // namespace shard
