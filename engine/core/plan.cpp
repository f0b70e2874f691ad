#include "plan.h"

#include "model_json.h"

#include <limits>

namespace shard {

void Plan::validate() const
{
    model.validate();
    topology.validate();
    workload.validate_for(model);
    strategy.validate(model.layers, topology.total_gpus());
}

OrderedJson plan_to_json(const Plan& plan)
{
    OrderedJson j;
    j["format"] = Plan::kFormatName;
    j["version"] = Plan::kFormatVersion;
    j["name"] = plan.name;
    j["model"] = model_to_json(plan.model);
    j["topology"] = topology_to_json(plan.topology);
    j["workload"] = workload_to_json(plan.workload);
    j["strategy"] = strategy_to_json(plan.strategy, plan.model.layers);
    if (plan.prediction)
        j["prediction"] = *plan.prediction;
    return j;
}

Plan plan_from_json(const Json& json, const std::string& source)
{
    const JsonReader r(json, source);
    const std::string format = r.string_or("format", "");
    if (format != Plan::kFormatName)
        throw Error(source + ": not a ShardStudio plan (field 'format' is \"" + format + "\", expected \""
                    + Plan::kFormatName + "\")");
    const auto version = r.integer("version", {1, std::numeric_limits<std::int64_t>::max()});
    if (version > Plan::kFormatVersion)
        throw Error(source + ": plan format version " + std::to_string(version)
                    + " was written by a newer ShardStudio; this build reads up to version "
                    + std::to_string(Plan::kFormatVersion) + ". Update ShardStudio to open it.");
    Plan plan;
    plan.name = r.string_or("name", "");
    plan.model = model_from_json(r.object("model"), source + ": model");
    plan.topology = topology_from_json(r.object("topology"), source + ": topology");
    plan.workload = workload_from_json(r.object("workload"), source + ": workload");
    plan.strategy = strategy_from_json(r.object("strategy"), source + ": strategy");
    if (plan.strategy.stage_layers == balanced_stage_split(plan.model.layers, plan.strategy.pp))
        plan.strategy.stage_layers.clear();
    if (const Json* prediction = r.raw("prediction"))
        plan.prediction = OrderedJson::parse(prediction->dump());
    try {
        plan.validate();
    } catch (const Error& e) {
        throw Error(source + ": " + e.what());
    }
    return plan;
}

Plan plan_from_text(const std::string& text, const std::string& source)
{
    Plan plan = plan_from_json(parse_json_text(text, source), source);
    if (plan.prediction) {
        const OrderedJson ordered = OrderedJson::parse(text);
        plan.prediction = ordered.at("prediction");
    }
    return plan;
}

Plan load_plan(const std::string& path)
{
    return plan_from_text(read_text_file(path), path);
}

void save_plan(const Plan& plan, const std::string& path)
{
    write_text_file(path, dump_json(plan_to_json(plan), 2) + "\n");
}

} // namespace shard
