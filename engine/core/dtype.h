#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shard {

enum class DType { FP32, BF16, FP16, FP8 };

int bytes_per_element(DType dtype);
std::string to_string(DType dtype);
// Accepts the spellings users type and Hugging Face writes ("bf16", "bfloat16", "float32"...).
DType parse_dtype(std::string_view text);

} // namespace shard
