#pragma once

#include "core/json_util.h"

#include <string>

namespace shard::cuda {

// `shard-engine devices`: every GPU (name, memory, SMs, compute capability), the peer-access
// matrix with CUDA's P2P performance rank, and the driver, CUDA runtime and NCCL versions.
OrderedJson describe_devices();
std::string format_devices(const OrderedJson& devices);

} // namespace shard::cuda
