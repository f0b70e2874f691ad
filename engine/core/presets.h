#pragma once

#include "model_spec.h"
#include "topology.h"

#include <filesystem>
#include <string>
#include <vector>

namespace shard {

// The model and topology presets shipped in <data>/models and <data>/topologies, and the
// single lookup the CLI and GUI use for `--model X` / `--topology X`: X is a preset id
// or a path to a file (our own schema, or a Hugging Face config.json for models).
class PresetLibrary {
public:
    explicit PresetLibrary(std::filesystem::path data_dir);
    // The library at data_directory(), loaded once.
    static const PresetLibrary& instance();

    static constexpr const char* kDefaultModel = "llama-3.1-70b";
    static constexpr const char* kDefaultTopology = "dgx-h100";

    const std::vector<ModelSpec>& models() const { return m_models; }
    const std::vector<Topology>& topologies() const { return m_topologies; }
    const std::filesystem::path& data_dir() const { return m_dataDir; }

    ModelSpec model(const std::string& id_or_path) const;
    Topology topology(const std::string& id_or_path) const;

private:
    std::filesystem::path m_dataDir;
    std::vector<ModelSpec> m_models;
    std::vector<Topology> m_topologies;
};

// Loads a model from a file: a Hugging Face config.json or ShardStudio's model schema.
ModelSpec load_model_file(const std::string& path);
Topology load_topology_file(const std::string& path);

} // namespace shard
