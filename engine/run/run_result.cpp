#include "run_result.h"

namespace shard::run {

std::vector<std::int64_t> prompt_tokens(const ModelSpec& model, int batch, int prompt)
{
    std::vector<std::int64_t> tokens(std::size_t(std::int64_t(batch) * prompt));
    for (int b = 0; b < batch; ++b)
        for (int i = 0; i < prompt; ++i)
            tokens[std::size_t(b) * prompt + i] = (7919LL * (b + 1) + 104729LL * i + 17) % model.vocab;
    return tokens;
}

} // namespace shard::run
