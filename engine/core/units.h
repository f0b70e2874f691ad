#pragma once

#include <cstdint>
#include <string>

namespace shard {

// Human formatting shared by the CLI and the GUI. Binary units for memory (GiB, as
// nvidia-smi and the CUDA allocator report), decimal for rates (GB/s, TFLOP/s, as NCCL
// and datasheets do).
std::string format_bytes(double bytes); // "1.50 GiB", "40.0 KiB", "512 B"
std::string format_count(std::int64_t value); // "6,738,415,616"
std::string format_params(std::int64_t value); // "6.74 B", "124 M"
std::string format_fixed(double value, int digits); // "%.Nf"
std::string format_scientific(double value, int digits); // "2.48e-07"
std::string utc_now_iso(); // "2026-12-03T17:40:00Z"

} // namespace shard
