#pragma once

#include "run/communicator.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

namespace shard {

// The ranks of one in-process run (one thread per rank). Owns the point-to-point channels
// every communicator uses and the abort flag that releases all waiting ranks at once.
class InProcessWorld {
public:
    explicit InProcessWorld(int ranks);

    int ranks() const { return m_ranks; }
    // Sends a copy of `data`; never blocks (channels are unbounded queues).
    void post(int group_id, int from, int to, std::span<const float> data);
    // Blocks until a message from `from` arrives, or throws Aborted.
    std::vector<float> take(int group_id, int from, int to);
    // Wakes every waiting rank with Aborted; the first reason is kept.
    void abort(const std::string& reason);
    bool aborted() const { return m_aborted.load(); }
    std::string abort_reason() const;

private:
    using Key = std::tuple<int, int, int>; // group, from, to
    int m_ranks;
    std::mutex m_mutex;
    std::condition_variable m_arrived;
    std::map<Key, std::deque<std::vector<float>>> m_channels;
    std::atomic<bool> m_aborted{false};
    std::string m_reason;
};

// A group of world ranks. Collectives are real ring algorithms over the world's channels,
// so the bytes each rank sends and receives are exactly NCCL's ring accounting.
class InProcessCommunicator final : public Communicator {
public:
    // `members` are world ranks in group order; `self` is this rank's index among them.
    // Every member must construct it with the same `group_id`, unique per group in the world.
    // Records go to `log` (may be null); a `control` communicator marks its records as such.
    InProcessCommunicator(InProcessWorld& world, int group_id, std::string name, std::vector<int> members, int self,
                          RankLog* log = nullptr, bool control = false);

    int rank() const override { return m_self; }
    int size() const override { return int(m_members.size()); }
    const std::string& name() const override { return m_name; }

    void all_reduce(std::span<float> data) override;
    void all_gather(std::span<const float> in, std::span<float> out) override;
    void reduce_scatter(std::span<const float> in, std::span<float> out) override;
    void broadcast(std::span<float> data, int root) override;
    void all_to_all(std::span<const float> in, std::span<float> out) override;
    void all_to_allv(std::span<const float> in, const std::vector<std::int64_t>& send_counts, std::span<float> out,
                     const std::vector<std::int64_t>& recv_counts) override;
    std::vector<float> all_to_allv(std::span<const float> in, const std::vector<std::int64_t>& send_counts,
                                   std::vector<std::int64_t>& recv_counts) override;
    void send(std::span<const float> data, int peer) override;
    void recv(std::span<float> data, int peer) override;
    void barrier() override;
    const std::vector<CollectiveRecord>& records() const override { return m_records; }

private:
    struct Call; // records bytes and time of one collective
    void post(int peer, std::span<const float> data, std::int64_t& sent);
    std::vector<float> take(int peer, std::int64_t& received);
    // Ring reduce-scatter in place over chunk boundaries `offsets` (size+1 entries);
    // afterwards chunk (rank+1) % size holds the full sum.
    void ring_reduce_scatter(std::span<float> data, const std::vector<std::int64_t>& offsets, CollectiveRecord& r);
    void ring_all_gather(std::span<float> data, const std::vector<std::int64_t>& offsets, int first_owned_shift,
                         CollectiveRecord& r);

    InProcessWorld& m_world;
    int m_group;
    std::string m_name;
    std::vector<int> m_members;
    int m_self;
    std::vector<CollectiveRecord> m_records;
    RankLog* m_log;
    bool m_control;
};

} // namespace shard
