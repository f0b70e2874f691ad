#pragma once

#include "deployment.h"

#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/topology.h"

namespace shard::serving {

// One pool of a disaggregated deployment: replicas of one layout with their scheduler.
struct Pool {
    Strategy layout;
    int replicas = 1;
    SchedulerLimits limits;
    const StepTimeModel* steps = nullptr;
    int gpus() const { return replicas * layout.devices(); }
};

// Moving a prompt's KV cache from the prefill replica that computed it to the decode replica
// that continues it: every sending GPU streams its shard at once over the link between the
// pools (the node's fabric when a prefill and a decode replica share a node, else the NICs;
// pools on two machines meet over the network, at the slower side's NIC bandwidth), and a
// decode layout with another tensor split than the prefill's gathers each shard from
// several senders (one message latency per sender it hears from).
struct KvTransfer {
    double bytes_per_token = 0; // the whole model's KV cache per prompt token
    double gbps = 0; // bandwidth of all sending GPUs together, GB/s
    double latency_us = 0; // per message
    int messages = 1; // per receiver: senders / receivers, at least 1
    bool in_node = false;
    double ms(std::int64_t tokens) const;
};
// `prefill_machine` and `decode_machine`: the nodes each pool runs on (the same topology when
// both pools share its nodes). A machine without NICs cannot send or receive: an error
// naming it.
KvTransfer price_kv_transfer(const ModelSpec& model, DType kv_dtype, const Topology& prefill_machine,
                             const Topology& decode_machine, const Strategy& prefill, const Strategy& decode);

struct DisaggregatedRun {
    ReplicaRun merged; // per request: arrival, first token (prefill pool), finish (decode pool)
    ReplicaRun prefill, decode; // each pool's own
    double transfer_ms_mean = 0;
};

// Requests go through the prefill pool (which produces their first token), their KV cache
// crosses to the decode pool, and the decode pool generates the rest. TTFT is the prefill
// pool's; TPOT includes the transfer and the wait for a decode slot.
DisaggregatedRun simulate_disaggregated(const std::vector<Request>& requests, const Pool& prefill, const Pool& decode,
                                        const KvTransfer& transfer);

} // namespace shard::serving
