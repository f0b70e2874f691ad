#include "dtype.h"

#include "error.h"

#include <algorithm>
#include <cctype>

namespace shard {

int bytes_per_element(DType dtype)
{
    switch (dtype) {
    case DType::FP32:
        return 4;
    case DType::BF16:
        return 2;
    case DType::FP16:
        return 2;
    case DType::FP8:
        return 1;
    }
    return 2;
}

std::string to_string(DType dtype)
{
    switch (dtype) {
    case DType::FP32:
        return "fp32";
    case DType::BF16:
        return "bf16";
    case DType::FP16:
        return "fp16";
    case DType::FP8:
        return "fp8";
    }
    return "bf16";
}

DType parse_dtype(std::string_view text)
{
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "fp32" || lower == "float32" || lower == "float")
        return DType::FP32;
    if (lower == "bf16" || lower == "bfloat16")
        return DType::BF16;
    if (lower == "fp16" || lower == "float16" || lower == "half")
        return DType::FP16;
    if (lower == "fp8" || lower == "float8_e4m3fn" || lower == "e4m3")
        return DType::FP8;
    throw Error("unknown dtype '" + std::string(text) + "' (expected fp32, bf16, fp16 or fp8)");
}

} // namespace shard
