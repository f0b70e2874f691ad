// GpuMesh's communicators: the tensor groups, the pipeline chains, the expert groups (which
// may span a stage's replicas) and the grid axes, emulated on one GPU or split from one NCCL
// world per mesh axis.
#include "gpu_mesh_impl.h"

namespace shard::cuda {

void GpuMesh::Impl::build_communicators(const GpuMeshScope* scope)
{
    const int t = layout.t;
    const int groups_count = int(layout.groups.size());
    tensor_comm.assign(std::size_t(groups_count), nullptr);
    pipeline_comm.assign(std::size_t(layout.pp > 1 ? layout.stage_size() : 0), nullptr);
    const bool experts = ep > 1;
    // Expert groups live in a stage: EP group c joins the stage offsets (replica * t + index)
    // equal to c modulo etp, and expert-TP group s the etp offsets from s * etp (inside one
    // replica, as etp divides t). Each replica's model sees its t / etp expert-TP groups.
    const int dp = layout.dp;
    const int shards_per_replica = experts ? t / etp : 0;
    const int shards_per_stage = shards_per_replica * dp;
    expert_comm.assign(std::size_t(groups_count),
                       std::vector<DeviceCollectives*>(std::size_t(experts ? etp : 0), nullptr));
    expert_tp_comm.assign(
        std::size_t(groups_count),
        std::vector<DeviceCollectives*>(std::size_t(experts && etp > 1 ? shards_per_replica : 0), nullptr));
    // A stage's EP group c, shared by its replicas (views through a rendezvous when one
    // driver runs several of them).
    auto share_expert_group = [&](int stage, int c, DeviceCollectives* group) {
        if (dp == 1 || scope) { // one replica, or this driver runs one rank of the group
            for (int replica = 0; replica < dp; ++replica)
                expert_comm[std::size_t(stage * dp + replica)][std::size_t(c)] = group;
            return;
        }
        rendezvous.push_back(std::make_unique<RendezvousGroup>(*group, std::vector<int>(std::size_t(dp), ep / dp)));
        replicas_in_threads = true;
        for (int replica = 0; replica < dp; ++replica)
            expert_comm[std::size_t(stage * dp + replica)][std::size_t(c)] = rendezvous.back()->view(replica);
    };
    grid_comm.assign(std::size_t(groups_count), {});
    for (auto& axes_of_group : grid_comm)
        for (const run::GridAxis& a : grid_axes)
            axes_of_group.emplace_back(std::size_t(t / a.size), nullptr);
    if (options.emulated) {
        const cudaStream_t stream = streams[0]->get();
        for (auto& axes_of_group : grid_comm)
            for (std::size_t a = 0; a < grid_axes.size(); ++a)
                for (auto& group : axes_of_group[a]) {
                    owned.push_back(make_emulated_collectives(0, stream, grid_axes[a].size));
                    group = owned.back().get();
                }
        for (int g = 0; g < groups_count; ++g) {
            if (t > 1) {
                owned.push_back(make_emulated_collectives(0, stream, t));
                tensor_comm[std::size_t(g)] = owned.back().get();
            }
            for (auto& group : expert_tp_comm[std::size_t(g)]) {
                owned.push_back(make_emulated_collectives(0, stream, etp));
                group = owned.back().get();
            }
        }
        for (int stage = 0; experts && stage < layout.pp; ++stage)
            for (int c = 0; c < etp; ++c) {
                owned.push_back(make_emulated_collectives(0, stream, ep));
                share_expert_group(stage, c, owned.back().get());
            }
        for (auto& chain : pipeline_comm) {
            owned.push_back(make_emulated_collectives(0, stream, layout.pp));
            chain = owned.back().get();
        }
        return;
    }
    // One NCCL world over every rank's GPU, split per mesh axis.
    std::vector<std::vector<int>> colors;
    if (t > 1)
        colors.push_back(layout.tensor_color);
    if (layout.pp > 1)
        colors.push_back(layout.pipeline_color);
    if (experts) { // the mesh layout's EP and expert-TP groups
        colors.push_back(layout.expert_color);
        colors.push_back(layout.expert_tp_color);
    }
    // Grid axes: world rank r (index i of group g) joins group grid_group_of(axis, i) of g.
    const std::size_t first_grid_axis = colors.size();
    for (const run::GridAxis& a : grid_axes) {
        std::vector<int> by_axis(std::size_t(layout.ranks()), -1);
        for (int g = 0; g < groups_count; ++g)
            for (int i = 0; i < t; ++i)
                by_axis[std::size_t(layout.groups[std::size_t(g)].ranks[std::size_t(i)])] =
                    g * (t / a.size) + run::grid_group_of(a, i);
        colors.push_back(by_axis);
    }
    if (colors.empty())
        return;
    axes = make_nccl_axes(local_devices, local_streams, colors, scope ? &scope->join : nullptr);
    std::size_t axis = 0;
    if (t > 1) {
        for (int g = 0; g < groups_count; ++g)
            tensor_comm[std::size_t(g)] = axes[axis][std::size_t(g)].get();
        ++axis;
    }
    if (layout.pp > 1) {
        for (std::size_t offset = 0; offset < pipeline_comm.size(); ++offset)
            pipeline_comm[offset] = axes[axis][offset].get();
        ++axis;
    }
    if (experts) {
        for (int stage = 0; stage < layout.pp; ++stage)
            for (int c = 0; c < etp; ++c)
                if (DeviceCollectives* group = axes[axis][std::size_t(stage * etp + c)].get())
                    share_expert_group(stage, c, group);
        for (int g = 0; g < groups_count; ++g) {
            const run::MeshGroup& mg = layout.groups[std::size_t(g)];
            for (int s = 0; etp > 1 && s < shards_per_replica; ++s)
                expert_tp_comm[std::size_t(g)][std::size_t(s)] =
                    axes[axis + 1][std::size_t(mg.stage * shards_per_stage + mg.replica * shards_per_replica + s)]
                        .get();
        }
    }
    for (std::size_t a = 0; a < grid_axes.size(); ++a) {
        const int per_group = t / grid_axes[a].size;
        for (int g = 0; g < groups_count; ++g)
            for (int c = 0; c < per_group; ++c)
                grid_comm[std::size_t(g)][a][std::size_t(c)] =
                    axes[first_grid_axis + a][std::size_t(g * per_group + c)].get();
    }
}

} // namespace shard::cuda
