#include "mesh_layout.h"

#include <algorithm>

namespace shard::run {

MeshLayout mesh_layout(const Strategy& s)
{
    MeshLayout L;
    L.pp = std::max(1, s.pp);
    L.dp = std::max(1, s.dp);
    L.t = std::max(1, s.tensor_size());
    L.tensor_color.assign(std::size_t(L.ranks()), -1);
    L.pipeline_color.assign(std::size_t(L.ranks()), -1);
    for (int stage = 0; stage < L.pp; ++stage) {
        for (int replica = 0; replica < L.dp; ++replica) {
            MeshGroup g;
            g.stage = stage;
            g.replica = replica;
            for (int i = 0; i < L.t; ++i) {
                const int r = L.rank(stage, replica, i);
                g.ranks.push_back(r);
                if (L.t > 1)
                    L.tensor_color[std::size_t(r)] = stage * L.dp + replica;
                if (L.pp > 1)
                    L.pipeline_color[std::size_t(r)] = replica * L.t + i; // the rank's offset in its stage
            }
            L.groups.push_back(std::move(g));
        }
    }
    L.expert_color.assign(std::size_t(L.ranks()), -1);
    L.expert_tp_color.assign(std::size_t(L.ranks()), -1);
    if (s.ep > 1) {
        L.ep = s.ep;
        L.etp = s.expert_tp();
        const int shards_per_stage = L.stage_size() / L.etp;
        for (int r = 0; r < L.ranks(); ++r) {
            const int offset = r % L.stage_size();
            L.expert_color[std::size_t(r)] = L.stage_of(r) * L.etp + offset % L.etp;
            if (L.etp > 1)
                L.expert_tp_color[std::size_t(r)] = L.stage_of(r) * shards_per_stage + offset / L.etp;
        }
    }
    return L;
}

std::vector<int> MeshLayout::members(const std::vector<int>& color, int c) const
{
    std::vector<int> out;
    for (int r = 0; r < int(color.size()); ++r)
        if (color[std::size_t(r)] == c)
            out.push_back(r);
    return out;
}

} // namespace shard::run
