#include "topology.h"

#include "checked_number.h"

#include <algorithm>

namespace shard {

double Topology::inter_busbw_per_gpu_gbps() const
{
    if (nodes <= 1 || nics_per_node <= 0)
        return 0;
    return inter.busbw_gbps * std::min(1.0, double(nics_per_node) / gpus_per_node);
}

void Topology::validate() const
{
    const std::string where = "topology '" + (id.empty() ? name : id) + "'";
    checked_in(nodes, limits::kNodes, where + ": 'nodes'");
    checked_in(gpus_per_node, limits::kGpusPerNode, where + ": 'gpus_per_node'");
    checked_in(nics_per_node, limits::kNicsPerNode, where + ": 'nics_per_node'");
    checked_in(gpu.sm_count, limits::kSmCount, where + ": 'gpu.sms'");
    if (gpu.memory_bytes <= 0)
        throw Error(where + ": 'gpu.memory_gib' must be positive");
    if (gpu.bf16_tflops <= 0 || gpu.hbm_gbps <= 0)
        throw Error(where + ": 'gpu.bf16_tflops' and 'gpu.hbm_gbps' must be positive");
    if (gpus_per_node > 1 && intra.busbw_gbps <= 0)
        throw Error(where + ": a node with several GPUs needs 'intra.busbw_gbps'");
    if (nodes > 1 && (inter.busbw_gbps <= 0 || nics_per_node < 1))
        throw Error(where + ": several nodes need 'inter.busbw_gbps' and 'nics_per_node'");
}

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kMaxMemoryGiB = 1 << 20; // a PiB per GPU: far above any part, far below int64 bytes

OrderedJson link_to_json(const Link& link)
{
    OrderedJson j;
    j["kind"] = link.kind;
    j["busbw_gbps"] = link.busbw_gbps;
    j["latency_us"] = link.latency_us;
    return j;
}

Link link_from_json(const JsonReader& parent, const char* key)
{
    Link link;
    if (!parent.has(key)) {
        link.kind = "none";
        return link;
    }
    const JsonReader r(parent.object(key), parent.context() + "." + key);
    link.kind = r.string_or("kind", "none");
    link.busbw_gbps = r.non_negative_number_or("busbw_gbps", 0);
    link.latency_us = r.non_negative_number_or("latency_us", 0);
    return link;
}

} // namespace

OrderedJson topology_to_json(const Topology& t)
{
    OrderedJson j;
    j["id"] = t.id;
    j["name"] = t.name;
    j["nodes"] = t.nodes;
    j["gpus_per_node"] = t.gpus_per_node;
    OrderedJson gpu;
    gpu["name"] = t.gpu.name;
    gpu["memory_gib"] = double(t.gpu.memory_bytes) / kGiB;
    gpu["bf16_tflops"] = t.gpu.bf16_tflops;
    gpu["hbm_gbps"] = t.gpu.hbm_gbps;
    gpu["sms"] = t.gpu.sm_count;
    j["gpu"] = gpu;
    j["intra"] = link_to_json(t.intra);
    j["inter"] = link_to_json(t.inter);
    j["nics_per_node"] = t.nics_per_node;
    return j;
}

Topology topology_from_json(const Json& json, const std::string& context)
{
    const JsonReader r(json, context);
    Topology t;
    t.id = r.string_or("id", "");
    t.name = r.string_or("name", t.id);
    t.nodes = r.count("nodes", limits::kNodes);
    t.gpus_per_node = r.count("gpus_per_node", limits::kGpusPerNode);
    const JsonReader gpu(r.object("gpu"), context + ".gpu");
    t.gpu.name = gpu.string("name");
    const double memory_gib = gpu.positive_number("memory_gib");
    if (memory_gib > kMaxMemoryGiB)
        gpu.fail("memory_gib", "must be at most " + std::to_string(int(kMaxMemoryGiB)) + " GiB");
    t.gpu.memory_bytes = static_cast<std::int64_t>(memory_gib * kGiB + 0.5);
    t.gpu.bf16_tflops = gpu.positive_number("bf16_tflops");
    t.gpu.hbm_gbps = gpu.positive_number("hbm_gbps");
    t.gpu.sm_count = gpu.count_or("sms", 132, limits::kSmCount);
    t.intra = link_from_json(r, "intra");
    t.inter = link_from_json(r, "inter");
    t.nics_per_node = r.count_or("nics_per_node", 0, limits::kNicsPerNode);
    try {
        t.validate();
    } catch (const Error& e) {
        throw Error(context + ": " + e.what());
    }
    return t;
}

} // namespace shard
