#pragma once

#include "model_weights.h"

#include <string>
#include <string_view>

namespace shard::run {

// safetensors (8-byte little-endian header size, JSON header, raw tensors), with ShardStudio's
// tensor names ("embed", "layers.0.q", ...) and W[K, N] layout. F32, F16 and BF16 tensors are
// read (converted to fp32); files are written in F32.
void save_safetensors(const ModelWeights& weights, const std::string& path);
// Every tensor the model needs must be present with its shape; errors name the tensor.
ModelWeights load_safetensors(const ModelSpec& model, const std::string& path);
// The same from the file's bytes; path names it in errors.
ModelWeights parse_safetensors(const ModelSpec& model, std::string_view file, const std::string& path);

} // namespace shard::run
