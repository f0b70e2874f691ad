#include "device_mesh.h"

#include <algorithm>
#include <map>

namespace shard {

DeviceMesh::DeviceMesh(const Strategy& strategy, const Topology& topology)
    : m_strategy(strategy)
    , m_topology(topology)
    , m_stageSize(strategy.dp * strategy.tensor_size())
{ }

int DeviceMesh::gpu(int position) const
{
    return m_strategy.gpu_of(position);
}

int DeviceMesh::node(int position) const
{
    return gpu(position) / m_topology.gpus_per_node;
}

int DeviceMesh::tensor_axis_stride(int axis) const
{
    int stride = 1;
    for (std::size_t a = axis + 1; a < m_strategy.tensor_shape.size(); ++a)
        stride *= m_strategy.tensor_shape[a];
    return stride;
}

GroupLink DeviceMesh::group(int size, int stride, int first) const
{
    std::vector<int> positions;
    positions.reserve(size);
    for (int i = 0; i < size; ++i)
        positions.push_back(first + i * stride);
    return link_of(positions);
}

GroupLink DeviceMesh::stage_link() const
{
    return link_of({0, m_stageSize});
}

GroupLink DeviceMesh::link_of(const std::vector<int>& positions) const
{
    GroupLink link;
    link.size = int(positions.size());
    if (link.size <= 1)
        return link;
    std::map<int, int> per_node;
    for (const int p : positions)
        ++per_node[node(p)];
    link.nodes = int(per_node.size());
    for (const auto& [n, count] : per_node)
        link.gpus_per_node = std::max(link.gpus_per_node, count);
    const Link& intra = m_topology.intra;
    if (link.nodes == 1) {
        link.busbw_gbps = intra.busbw_gbps;
        link.latency_us = intra.latency_us;
        link.fabric = intra.kind;
        return link;
    }
    // Hierarchical: the members of one node share that node's NICs with the node's other
    // GPUs, so the group gets one GPU's share of the network per member on the node,
    // capped by the intra-node fabric the traffic also crosses.
    link.cross_node = true;
    const double network = m_topology.inter_busbw_per_gpu_gbps() * link.gpus_per_node;
    link.busbw_gbps = link.gpus_per_node > 1 ? std::min(network, intra.busbw_gbps) : network;
    link.latency_us = m_topology.inter.latency_us + (link.gpus_per_node > 1 ? intra.latency_us : 0.0);
    link.fabric = link.gpus_per_node > 1 ? intra.kind + "+" + m_topology.inter.kind : m_topology.inter.kind;
    return link;
}

} // namespace shard
