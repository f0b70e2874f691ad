#include "units.h"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace shard {

std::string format_fixed(double value, int digits)
{
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
    return buffer;
}

std::string format_scientific(double value, int digits)
{
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.*e", digits, value);
    return buffer;
}

std::string format_bytes(double bytes)
{
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int unit = 0;
    double value = bytes;
    while (std::fabs(value) >= 1024.0 && unit < 5) {
        value /= 1024.0;
        ++unit;
    }
    if (unit == 0)
        return format_fixed(value, 0) + " B";
    const int digits = std::fabs(value) >= 100 ? 0 : (std::fabs(value) >= 10 ? 1 : 2);
    return format_fixed(value, digits) + " " + units[unit];
}

std::string format_count(std::int64_t value)
{
    const bool negative = value < 0;
    std::string digits = std::to_string(negative ? -value : value);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0)
            out += ',';
        out += digits[i];
    }
    return negative ? "-" + out : out;
}

std::string format_params(std::int64_t value)
{
    const double v = double(value);
    if (v >= 1e12)
        return format_fixed(v / 1e12, 2) + " T";
    if (v >= 1e9)
        return format_fixed(v / 1e9, v >= 1e11 ? 0 : (v >= 1e10 ? 1 : 2)) + " B";
    if (v >= 1e6)
        return format_fixed(v / 1e6, v >= 1e8 ? 0 : 1) + " M";
    if (v >= 1e3)
        return format_fixed(v / 1e3, 1) + " K";
    return std::to_string(value);
}

std::string utc_now_iso()
{
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

} // namespace shard
