#pragma once

#include "json_util.h"
#include "model_spec.h"
#include "strategy.h"
#include "topology.h"
#include "workload.h"

#include <optional>
#include <string>

namespace shard {

// A *.shardplan.json file: everything needed to reproduce a planning decision or a run.
struct Plan {
    static constexpr int kFormatVersion = 1;
    static constexpr const char* kFormatName = "shardstudio-plan";

    std::string name;
    ModelSpec model;
    Topology topology;
    Workload workload;
    Strategy strategy;
    std::optional<OrderedJson> prediction; // written by the planner; kept verbatim

    bool operator==(const Plan&) const = default;

    // Structural checks of the strategy against the model and topology.
    void validate() const;
};

OrderedJson plan_to_json(const Plan& plan);
// Refuses a newer format version with a message naming both versions.
Plan plan_from_json(const Json& json, const std::string& source);
// Parses text; the stored prediction keeps its key order, so a re-save is byte-identical.
Plan plan_from_text(const std::string& text, const std::string& source);
Plan load_plan(const std::string& path);
void save_plan(const Plan& plan, const std::string& path);

} // namespace shard
