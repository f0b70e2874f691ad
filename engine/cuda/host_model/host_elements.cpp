#include "host_elements.h"

#include <cmath>

namespace shard::cuda::host {

namespace {

std::uint32_t bits_of(float value)
{
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    return bits;
}

float float_of(std::uint32_t bits)
{
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
}

} // namespace

float bf16_to_float(std::uint16_t bits)
{
    return float_of(std::uint32_t(bits) << 16);
}

std::uint16_t float_to_bf16(float value)
{
    const std::uint32_t bits = bits_of(value);
    if (std::isnan(value))
        return std::uint16_t((bits >> 16) | 0x40); // stays a (quiet) NaN
    // Round to nearest, ties to even: add just under half a unit, plus one if the kept part is odd.
    return std::uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

float fp16_to_float(std::uint16_t bits)
{
    const float sign = bits & 0x8000 ? -1.0f : 1.0f;
    const int exponent = (bits >> 10) & 0x1f;
    const int mantissa = bits & 0x3ff;
    if (exponent == 0) // zero or subnormal: mantissa x 2^-24
        return sign * std::ldexp(float(mantissa), -24);
    if (exponent == 31)
        return mantissa ? std::nanf("") : sign * INFINITY;
    return sign * std::ldexp(float(1024 + mantissa), exponent - 25);
}

std::uint16_t float_to_fp16(float value)
{
    const std::uint32_t bits = bits_of(value);
    const auto sign = std::uint16_t((bits >> 16) & 0x8000);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u)
        return std::uint16_t(sign | 0x7e00); // NaN
    if (magnitude >= 0x47800000u) // 2^16 and above (and infinity): infinity
        return std::uint16_t(sign | 0x7c00);
    if (magnitude < 0x38800000u) // below 2^-14: a subnormal, mantissa = value x 2^24 rounded to even
        return std::uint16_t(sign | std::uint16_t(std::nearbyint(std::fabs(value) * 16777216.0f)));
    const std::uint32_t exponent = (magnitude >> 23) - 127 + 15;
    const std::uint32_t mantissa = magnitude & 0x7fffffu;
    std::uint32_t half = (exponent << 10) | (mantissa >> 13);
    const std::uint32_t rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
        ++half; // a carry out of the mantissa moves to the next exponent (65504 + 16 -> infinity), as it should
    return std::uint16_t(sign | half);
}

} // namespace shard::cuda::host
