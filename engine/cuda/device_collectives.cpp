#include "device_collectives.h"

namespace shard::cuda {

std::vector<int> world_ranks(int n, const NcclJoin* join)
{
    std::vector<int> ranks(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        ranks[std::size_t(i)] = join ? join->ranks.at(std::size_t(i)) : i;
    return ranks;
}

std::unique_ptr<DeviceCollectives> make_nccl_collectives(const std::vector<int>& devices,
                                                         const std::vector<cudaStream_t>& streams)
{
    // The tensor group as a split of the world (one color: every rank), the way each mesh
    // axis gets its own communicator.
    auto axes = make_nccl_axes(devices, streams, {std::vector<int>(devices.size(), 0)});
    return std::move(axes.front().front());
}

} // namespace shard::cuda
