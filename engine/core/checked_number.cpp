#include "checked_number.h"

#include "error.h"

namespace shard {

std::string range_problem(std::int64_t value, IntRange range)
{
    if (range.contains(value))
        return {};
    const std::string got = ", got " + std::to_string(value);
    if (value < 0 && range.min >= 0)
        return "must not be negative" + got;
    if (value < range.min)
        return range.min == 1 ? "must be positive" + got : "must be at least " + std::to_string(range.min) + got;
    return "must be at most " + std::to_string(range.max) + got;
}

std::int64_t checked_in(std::int64_t value, IntRange range, const std::string& what)
{
    if (const std::string problem = range_problem(value, range); !problem.empty())
        throw Error(what + " " + problem);
    return value;
}

int checked_int(std::int64_t value, IntRange range, const std::string& what)
{
    static_assert(limits::kGpuIndex.max <= 0x7fffffff);
    return static_cast<int>(checked_in(value, range, what));
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b, const std::string& what)
{
    std::int64_t product = 0;
    if (__builtin_mul_overflow(a, b, &product))
        throw Error(what + " overflows 64 bits (" + std::to_string(a) + " x " + std::to_string(b) + ")");
    return product;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& what)
{
    std::int64_t sum = 0;
    if (__builtin_add_overflow(a, b, &sum))
        throw Error(what + " overflows 64 bits (" + std::to_string(a) + " + " + std::to_string(b) + ")");
    return sum;
}

} // namespace shard
