#pragma once

#include <cstdint>
#include <string>

namespace shard {

enum class CollectiveKind { AllReduce, AllGather, ReduceScatter, Broadcast, AllToAll, SendRecv };

std::string to_string(CollectiveKind kind);

// nccl-tests' bus factor: busbw = algbw x factor (doc/PERFORMANCE.md).
double bus_factor(CollectiveKind kind, int group_size);

// Bytes one device receives (= sends, for the ring algorithms) in one call, where
// `payload` is nccl-tests' "size": the full buffer for AllReduce, the gathered output for
// AllGather, the full input for ReduceScatter, the broadcast buffer, one device's send
// buffer for AllToAll, the message for Send/Recv. Exact when payload divides by the group.
//   AllReduce (ring)            2 (n-1)/n x payload
//   AllGather, ReduceScatter    (n-1)/n x payload
//   AllToAll                    (n-1)/n x payload
//   Broadcast                   (n-1)/n x payload on average: a receiver gets all of it,
//                               the root nothing; over n calls with rotating roots (SUMMA)
//                               every device receives exactly (n-1) x payload
//   SendRecv                    payload
std::int64_t traffic_per_call(CollectiveKind kind, int group_size, std::int64_t payload);

} // namespace shard
