#pragma once

// Private to the GridModel sources: one layer's weight blocks and KV cache.
#include "../grid_model.h"
#include "run/grid_layout.h"

#include <vector>

namespace shard::cpu {

// Its weight blocks as GridLayout hands them out.
struct GridModel::Layer : GridLayerShard {
    int index = 0;
    std::vector<float> k_cache, v_cache; // [sequences held][max_context][kv heads][d]
};

} // namespace shard::cpu
