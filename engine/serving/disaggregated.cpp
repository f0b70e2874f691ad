#include "disaggregated.h"

#include "core/error.h"

#include <algorithm>

namespace shard::serving {

double KvTransfer::ms(std::int64_t tokens) const
{
    return latency_us * messages / 1000.0 + (gbps > 0 ? bytes_per_token * double(tokens) / (gbps * 1e9) * 1000.0 : 0.0);
}

namespace {

// The network bandwidth one GPU of `machine` gets when all of its node's GPUs send at once.
double nic_gbps_per_gpu(const Topology& machine)
{
    if (machine.nics_per_node <= 0 || machine.inter.busbw_gbps <= 0)
        throw Error("a KV cache leaves or reaches " + machine.name
                    + " over the network, but it has no NICs: give the pools a topology with nics_per_node");
    return machine.inter.busbw_gbps * std::min(1.0, double(machine.nics_per_node) / machine.gpus_per_node);
}

} // namespace

KvTransfer price_kv_transfer(const ModelSpec& model, DType kv_dtype, const Topology& prefill_machine,
                             const Topology& decode_machine, const Strategy& prefill, const Strategy& decode)
{
    KvTransfer t;
    t.bytes_per_token = double(model.kv_cache_bytes_per_token(bytes_per_element(kv_dtype)));
    const int senders = prefill.devices(), receivers = decode.devices();
    const bool shared = prefill_machine == decode_machine;
    t.in_node = shared && senders + receivers <= decode_machine.gpus_per_node;
    if (t.in_node) {
        t.gbps = decode_machine.intra.busbw_gbps * std::min(senders, receivers);
        t.latency_us = decode_machine.intra.latency_us;
    } else {
        t.gbps = std::min(nic_gbps_per_gpu(prefill_machine) * senders, nic_gbps_per_gpu(decode_machine) * receivers);
        t.latency_us = std::max(prefill_machine.inter.latency_us, decode_machine.inter.latency_us);
    }
    const int ps = prefill.tensor_size(), ds = decode.tensor_size();
    t.messages = std::max(1, std::max(ps, ds) / std::max(1, std::min(ps, ds)));
    return t;
}

DisaggregatedRun simulate_disaggregated(const std::vector<Request>& requests, const Pool& prefill, const Pool& decode,
                                        const KvTransfer& transfer)
{
    if (!prefill.steps || !decode.steps)
        throw Error("a disaggregated deployment needs step times for both pools");
    // The prefill pool computes each prompt and its first token.
    std::vector<Request> first = requests;
    for (Request& r : first)
        r.output = 1;
    DisaggregatedRun out;
    out.prefill = simulate_deployment(first, prefill.replicas, prefill.limits, *prefill.steps).merged;
    // Each arrives at the decode pool when its KV cache has crossed over.
    std::vector<Request> rest = requests;
    double transfer_sum = 0;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        const double ms = transfer.ms(rest[i].prompt);
        transfer_sum += ms;
        rest[i].arrival_s = out.prefill.requests[i].finish_s + ms / 1000.0;
        rest[i].prefilled = true;
    }
    out.transfer_ms_mean = rest.empty() ? 0 : transfer_sum / double(rest.size());
    std::vector<std::size_t> order(rest.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return rest[a].arrival_s < rest[b].arrival_s; });
    std::vector<Request> sorted;
    for (const std::size_t i : order)
        sorted.push_back(rest[i]);
    const ReplicaRun decoded = simulate_deployment(sorted, decode.replicas, decode.limits, *decode.steps).merged;
    out.decode = decoded;
    out.merged.requests.resize(requests.size());
    for (std::size_t k = 0; k < order.size(); ++k) {
        const std::size_t i = order[k];
        RequestResult r = decoded.requests[k];
        const RequestResult& p = out.prefill.requests[i];
        r.id = requests[i].id;
        r.arrival_s = requests[i].arrival_s;
        r.first_token_s = p.first_token_s;
        r.output = requests[i].output;
        r.rejected = r.rejected || p.rejected;
        r.preemptions += p.preemptions;
        out.merged.requests[i] = r;
    }
    out.merged.end_s = std::max(out.prefill.end_s, decoded.end_s);
    out.merged.preemptions = out.prefill.preemptions + decoded.preemptions;
    out.merged.prefill_tokens = out.prefill.prefill_tokens + decoded.prefill_tokens;
    out.merged.generated_tokens = out.prefill.generated_tokens + decoded.generated_tokens;
    out.merged.peak_kv_blocks = decoded.peak_kv_blocks;
    out.merged.steps = decoded.steps;
    double in_system = 0;
    for (const auto& r : out.merged.requests)
        in_system += r.finish_s - r.arrival_s;
    const double span = out.merged.end_s - (requests.empty() ? 0.0 : requests.front().arrival_s);
    out.merged.mean_in_system = span > 0 ? in_system / span : 0;
    return out;
}

} // namespace shard::serving
