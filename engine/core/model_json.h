#pragma once

#include "json_util.h"
#include "model_spec.h"

namespace shard {

// ShardStudio's own model schema: what presets, plans and `model show --json` use.
OrderedJson model_to_json(const ModelSpec& model);
ModelSpec model_from_json(const Json& json, const std::string& context);

} // namespace shard
