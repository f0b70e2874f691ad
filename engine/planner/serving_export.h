#pragma once

#include "core/plan.h"

#include <string>
#include <vector>

namespace shard {

// What a plan looks like in a serving engine's own flags, or plainly why it has no
// equivalent there (2D / 3D layouts, column- or row-only 1D, uneven stage splits...).
struct ServingExport {
    std::string engine; // "vllm", "sglang", "trtllm"
    bool exact = false; // the flags reproduce the plan's layout
    std::string command; // a command line to start from
    std::vector<std::string> caveats; // what differs, in words
};

std::vector<std::string> supported_serving_engines();
ServingExport export_for_serving(const Plan& plan, const std::string& engine);

} // namespace shard
