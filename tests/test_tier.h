#pragma once

// Which tier of the test suite a test process runs in. ctest runs every entry of the CI
// tier on every submission; `installer/setup.sh --test-full` runs every entry with
// SHARD_TEST_TIER=full, and a suite that scales (the engine matrices, stress counts) reads
// the tier here and nowhere else.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace shard::test {

enum class Tier {
    Ci, // every submission: each kind of case once, stress counts that still find races
    Full, // one command away: every case, full stress counts
};

// SHARD_TEST_TIER: unset or "ci" for the CI tier, "full" for the full tier; anything else
// is refused, so a typo cannot quietly run the small tier.
inline Tier tier()
{
    const char* value = std::getenv("SHARD_TEST_TIER");
    if (!value || !*value || std::strcmp(value, "ci") == 0)
        return Tier::Ci;
    if (std::strcmp(value, "full") == 0)
        return Tier::Full;
    throw std::invalid_argument(std::string("SHARD_TEST_TIER is '") + value + "': expected 'ci' or 'full'");
}

// How many times a stress test repeats: `ci` on every submission, `full` in the full tier.
inline int stressCount(int ci, int full)
{
    return tier() == Tier::Full ? full : ci;
}

// Whether this binary runs under AddressSanitizer (every case several times slower, so the
// engine matrices pick fewer cases).
constexpr bool sanitized()
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

} // namespace shard::test
