#include "collective.h"

namespace shard {

std::string to_string(CollectiveKind kind)
{
    switch (kind) {
    case CollectiveKind::AllReduce:
        return "AllReduce";
    case CollectiveKind::AllGather:
        return "AllGather";
    case CollectiveKind::ReduceScatter:
        return "ReduceScatter";
    case CollectiveKind::Broadcast:
        return "Broadcast";
    case CollectiveKind::AllToAll:
        return "AllToAll";
    case CollectiveKind::SendRecv:
        return "SendRecv";
    }
    return "?";
}

double bus_factor(CollectiveKind kind, int n)
{
    if (n <= 1)
        return kind == CollectiveKind::SendRecv ? 1.0 : 0.0;
    switch (kind) {
    case CollectiveKind::AllReduce:
        return 2.0 * (n - 1) / n;
    case CollectiveKind::AllGather:
    case CollectiveKind::ReduceScatter:
    case CollectiveKind::AllToAll:
        return double(n - 1) / n;
    case CollectiveKind::Broadcast:
    case CollectiveKind::SendRecv:
        return 1.0;
    }
    return 1.0;
}

std::int64_t traffic_per_call(CollectiveKind kind, int n, std::int64_t payload)
{
    if (kind == CollectiveKind::SendRecv)
        return payload;
    if (n <= 1)
        return 0;
    switch (kind) {
    case CollectiveKind::AllReduce:
        return 2 * (n - 1) * payload / n;
    case CollectiveKind::AllGather:
    case CollectiveKind::ReduceScatter:
    case CollectiveKind::AllToAll:
    case CollectiveKind::Broadcast:
        return (n - 1) * payload / n;
    case CollectiveKind::SendRecv:
        return payload;
    }
    return 0;
}

} // namespace shard
