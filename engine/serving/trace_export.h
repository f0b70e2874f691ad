#pragma once

#include "traffic.h"

#include <string>
#include <vector>

namespace shard::serving {

// Token block of the replay trace's hash ids: AIPerf's default, so its --isl-block-size
// can stay as it is.
inline constexpr int kReplayBlockTokens = 512;

// The requests as a Mooncake trace (JSON lines: timestamp in ms, input_length,
// output_length, hash_ids), the format AIPerf replays at the exact arrival times. Requests
// of one prefix id share the hash ids of their prefix's full blocks, so a server's prefix
// cache sees the sharing the simulation assumed; every other block is the request's own.
std::string mooncake_trace(const std::vector<Request>& requests, int block_tokens = kReplayBlockTokens);
// Writes it to `path`; an error names the path.
void write_mooncake_trace(const std::string& path, const std::vector<Request>& requests,
                          int block_tokens = kReplayBlockTokens);

} // namespace shard::serving
