#pragma once

#include <filesystem>
#include <optional>

namespace shard {

// Where model and topology presets and example plans live. Looked up relative to the
// running binary (installed: <prefix>/bin -> <prefix>/share/shardstudio; build tree:
// <build>/bin -> <build>/share/shardstudio), then the source tree for development.
// SHARDSTUDIO_DATA_DIR overrides both.
std::filesystem::path data_directory();
std::filesystem::path executable_directory();

} // namespace shard
