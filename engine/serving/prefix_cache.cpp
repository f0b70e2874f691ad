#include "prefix_cache.h"

#include "core/error.h"

#include <algorithm>

namespace shard::serving {

std::int64_t PrefixCache::acquire(const std::string& prefix, std::int64_t wanted, double now)
{
    const auto at = m_entries.find(prefix);
    if (at == m_entries.end() || wanted <= 0)
        return 0;
    Entry& e = at->second;
    if (e.readers++ == 0) {
        m_idle.erase({e.last_used, prefix});
        m_idle_blocks -= e.blocks;
    }
    e.last_used = now;
    return std::min(wanted, e.blocks);
}

void PrefixCache::release(const std::string& prefix, double now)
{
    const auto at = m_entries.find(prefix);
    if (at == m_entries.end() || at->second.readers == 0)
        throw Error("the prefix cache released '" + prefix + "', which no request was reading");
    Entry& e = at->second;
    e.last_used = now;
    if (--e.readers == 0) {
        m_idle.insert({now, prefix});
        m_idle_blocks += e.blocks;
    }
}

bool PrefixCache::publish(const std::string& prefix, std::int64_t blocks, double now)
{
    if (blocks <= 0 || m_entries.count(prefix))
        return false;
    m_entries.emplace(prefix, Entry{blocks, 1, now});
    return true;
}

std::int64_t PrefixCache::evict(std::int64_t needed)
{
    std::int64_t freed = 0;
    while (freed < needed && !m_idle.empty()) {
        const auto oldest = m_idle.begin();
        const auto at = m_entries.find(oldest->second);
        freed += at->second.blocks;
        m_idle_blocks -= at->second.blocks;
        m_entries.erase(at);
        m_idle.erase(oldest);
    }
    return freed;
}

} // namespace shard::serving
