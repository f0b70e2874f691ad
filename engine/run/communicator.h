#pragma once

#include "cost/collective.h"

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace shard {

// What one rank moved in one collective call, for the byte-exact comparison with the
// planner. `payload` follows nccl-tests' "size" (see cost/collective.h); `received` is
// what arrived from other ranks, `sent` what left for them.
struct CollectiveRecord {
    CollectiveKind kind = CollectiveKind::AllReduce;
    std::string group; // the communicator's name: "tp", "ep", "pp"...
    int group_size = 1;
    std::int64_t payload = 0;
    std::int64_t sent = 0;
    std::int64_t received = 0;
    double seconds = 0;
    double start_us = 0; // since the run's epoch (RankLog::epoch), for the trace
    int step = 0; // forward step of the run (0 = prefill, then one per decode step)
    bool control = false; // routing metadata or token feedback, not activations the planner prices
    bool modeled = false; // `seconds` comes from the cost model (emulated ranks), not a clock
};

// One timed computation of one rank (collectives are timed separately).
struct OpRecord {
    std::string name; // "qkv_proj", "attention", "experts"...
    std::string kind; // the planner's op kind ("qkv", "attention", "mlp_up"...)
    int layer = -1; // -1 for embedding and head
    int step = 0;
    double start_us = 0;
    double us = 0;
};

// Where one rank's communicators and model write what they measured.
struct RankLog {
    using Clock = std::chrono::steady_clock;
    int step = 0;
    Clock::time_point epoch = Clock::now();
    std::vector<CollectiveRecord> records;
    std::vector<OpRecord> ops;
    std::vector<double> step_end_us; // when this rank finished each step

    double now_us() const { return std::chrono::duration<double, std::micro>(Clock::now() - epoch).count(); }
};

// Times one op into a RankLog (no-op without a log).
class ScopedOp {
public:
    ScopedOp(RankLog* log, const char* name, const char* kind, int layer)
        : m_log(log)
        , m_name(name)
        , m_kind(kind)
        , m_layer(layer)
        , m_start(log ? log->now_us() : 0)
    { }
    ~ScopedOp() { stop(); }
    // Ends the measurement early (before a collective that must not count as compute).
    void stop()
    {
        if (m_log)
            m_log->ops.push_back({m_name, m_kind, m_layer, m_log->step, m_start, m_log->now_us() - m_start});
        m_log = nullptr;
    }
    ScopedOp(const ScopedOp&) = delete;
    ScopedOp& operator=(const ScopedOp&) = delete;

private:
    RankLog* m_log;
    const char* m_name;
    const char* m_kind;
    int m_layer;
    double m_start;
};

// Thrown in every rank when another rank failed, so nobody waits forever.
class Aborted : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The collectives the executors need, on fp32 buffers. The CPU backend implements them in
// process (ring algorithms between threads); the CUDA backend implements them with NCCL.
class Communicator {
public:
    virtual ~Communicator() = default;

    virtual int rank() const = 0;
    virtual int size() const = 0;
    virtual const std::string& name() const = 0;

    virtual void all_reduce(std::span<float> data) = 0; // sum, in place
    virtual void all_gather(std::span<const float> in, std::span<float> out) = 0; // out = size x in
    virtual void reduce_scatter(std::span<const float> in, std::span<float> out) = 0; // in = size x out
    virtual void broadcast(std::span<float> data, int root) = 0;
    // Equal chunks: chunk i of `in` goes to rank i; chunk j of `out` came from rank j.
    virtual void all_to_all(std::span<const float> in, std::span<float> out) = 0;
    // Variable chunks, counts in elements; `out` must hold sum(recv_counts). Recorded with
    // the receive buffer as its size.
    virtual void all_to_allv(std::span<const float> in, const std::vector<std::int64_t>& send_counts,
                             std::span<float> out, const std::vector<std::int64_t>& recv_counts) = 0;
    // Variable chunks whose sizes only the senders know (MoE dispatch): returns what arrived,
    // ordered by source rank, and the element count from each source. Recorded with the
    // send buffer as its size.
    virtual std::vector<float> all_to_allv(std::span<const float> in, const std::vector<std::int64_t>& send_counts,
                                           std::vector<std::int64_t>& recv_counts) = 0;
    virtual void send(std::span<const float> data, int peer) = 0;
    virtual void recv(std::span<float> data, int peer) = 0;
    virtual void barrier() = 0;

    // Every call this rank made on this communicator, in order.
    virtual const std::vector<CollectiveRecord>& records() const = 0;
};

} // namespace shard
