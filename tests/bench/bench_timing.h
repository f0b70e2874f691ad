#pragma once

// What the benchmarks time with: the median wall time of repeated runs.
#include <algorithm>
#include <chrono>
#include <vector>

namespace shard::bench {

template<typename F> double median_ms(int runs, F&& body)
{
    using Clock = std::chrono::steady_clock;
    std::vector<double> times;
    for (int i = 0; i < runs; ++i) {
        const auto start = Clock::now();
        body();
        times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

} // namespace shard::bench
