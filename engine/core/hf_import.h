#pragma once

#include "json_util.h"
#include "model_spec.h"

#include <string>
#include <vector>

namespace shard {

// Hugging Face config.json import. Each supported model_type maps its own field names
// (num_local_experts vs n_routed_experts, n_embd vs hidden_size...) onto ModelSpec.
std::vector<std::string> supported_hf_model_types();

// Throws Error naming the source, and the missing or invalid field, or listing the
// supported model types for an unknown one.
ModelSpec import_hf_config(const Json& config, const std::string& source);
ModelSpec import_hf_config_text(const std::string& text, const std::string& source);
ModelSpec import_hf_config_file(const std::string& path);

// True when the JSON looks like a Hugging Face config (it has "model_type" or "architectures").
bool looks_like_hf_config(const Json& json);

} // namespace shard
