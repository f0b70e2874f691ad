#include "trace_export.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

namespace shard::serving {

std::string mooncake_trace(const std::vector<Request>& requests, int block_tokens)
{
    if (block_tokens < 1)
        throw Error("the replay trace needs blocks of at least one token, got " + std::to_string(block_tokens));
    // An id's blocks are numbered once, for the longest prefix the trace gives it.
    std::map<std::string, std::int64_t> longest_prefix;
    for (const Request& r : requests)
        if (!r.prefix.empty()) {
            std::int64_t& longest = longest_prefix[r.prefix];
            longest = std::max<std::int64_t>(longest, r.prefix_tokens / block_tokens);
        }
    std::map<std::string, std::int64_t> first_id_of_prefix; // its blocks take ids from here on
    std::int64_t next_id = 0;
    std::string out;
    for (const Request& r : requests) {
        const std::int64_t blocks = (std::int64_t(r.prompt) + block_tokens - 1) / block_tokens;
        const std::int64_t shared =
            r.prefix.empty() ? 0 : std::min<std::int64_t>(r.prefix_tokens / block_tokens, blocks);
        out += "{\"timestamp\": " + std::to_string(std::llround(r.arrival_s * 1000.0)) + ", \"input_length\": "
               + std::to_string(r.prompt) + ", \"output_length\": " + std::to_string(r.output) + ", \"hash_ids\": [";
        std::int64_t prefix_base = 0;
        if (shared > 0) {
            auto [at, inserted] = first_id_of_prefix.emplace(r.prefix, next_id);
            if (inserted)
                next_id += longest_prefix.at(r.prefix);
            prefix_base = at->second;
        }
        for (std::int64_t b = 0; b < blocks; ++b) {
            if (b > 0)
                out += ", ";
            out += std::to_string(b < shared ? prefix_base + b : next_id++);
        }
        out += "]}\n";
    }
    return out;
}

void write_mooncake_trace(const std::string& path, const std::vector<Request>& requests, int block_tokens)
{
    const std::string text = mooncake_trace(requests, block_tokens);
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    if (!file || !file.write(text.data(), std::streamsize(text.size())) || !file.flush())
        throw Error("cannot write the replay trace " + path);
}

} // namespace shard::serving
