#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace shard::serving {

// The prefix cache of one replica: which prefix ids have their leading KV blocks resident,
// how many running requests read each, and which idle one goes first when blocks run out
// (least recently used; the id breaks ties so replays stay identical).
class PrefixCache {
public:
    // Cached blocks of `prefix` a request may start from, at most `wanted`; the request
    // reads them until release(). 0 when nothing of it is cached.
    std::int64_t acquire(const std::string& prefix, std::int64_t wanted, double now);
    void release(const std::string& prefix, double now);
    // `blocks` a request computed become the cache's, read by that request; false (the
    // request keeps them) when the prefix is cached already.
    bool publish(const std::string& prefix, std::int64_t blocks, double now);
    // Drops idle prefixes until `needed` blocks are freed or none is left; the blocks freed.
    std::int64_t evict(std::int64_t needed);
    std::int64_t idle_blocks() const { return m_idle_blocks; }

private:
    struct Entry {
        std::int64_t blocks = 0;
        int readers = 0;
        double last_used = 0;
    };
    std::map<std::string, Entry> m_entries;
    std::set<std::pair<double, std::string>> m_idle; // (last used, id) of unread entries
    std::int64_t m_idle_blocks = 0;
};

} // namespace shard::serving
