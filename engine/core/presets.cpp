#include "presets.h"

#include "hf_import.h"
#include "json_util.h"
#include "model_json.h"
#include "resources.h"

#include <algorithm>

namespace shard {

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> json_files(const fs::path& dir)
{
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file() && entry.path().extension() == ".json")
            files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

bool looks_like_path(const std::string& text)
{
    return text.find('/') != std::string::npos || text.ends_with(".json");
}

template<typename Item> std::string id_list(const std::vector<Item>& items)
{
    std::string list;
    for (const auto& item : items)
        list += (list.empty() ? "" : ", ") + item.id;
    return list;
}

} // namespace

ModelSpec load_model_file(const std::string& path)
{
    const Json json = read_json_file(path);
    if (looks_like_hf_config(json))
        return import_hf_config(json, path);
    return model_from_json(json, path);
}

Topology load_topology_file(const std::string& path)
{
    return topology_from_json(read_json_file(path), path);
}

PresetLibrary::PresetLibrary(fs::path data_dir)
    : m_dataDir(std::move(data_dir))
{
    for (const auto& file : json_files(m_dataDir / "models"))
        m_models.push_back(model_from_json(read_json_file(file.string()), file.string()));
    for (const auto& file : json_files(m_dataDir / "topologies"))
        m_topologies.push_back(load_topology_file(file.string()));
}

const PresetLibrary& PresetLibrary::instance()
{
    static const PresetLibrary library(data_directory());
    return library;
}

ModelSpec PresetLibrary::model(const std::string& id_or_path) const
{
    for (const auto& m : m_models) {
        if (m.id == id_or_path)
            return m;
    }
    if (looks_like_path(id_or_path) || fs::exists(id_or_path))
        return load_model_file(id_or_path);
    throw Error("unknown model '" + id_or_path + "'; presets: " + id_list(m_models)
                + " (or give a path to a model JSON or a Hugging Face config.json)");
}

Topology PresetLibrary::topology(const std::string& id_or_path) const
{
    for (const auto& t : m_topologies) {
        if (t.id == id_or_path)
            return t;
    }
    if (looks_like_path(id_or_path) || fs::exists(id_or_path))
        return load_topology_file(id_or_path);
    throw Error("unknown topology '" + id_or_path + "'; presets: " + id_list(m_topologies)
                + " (or give a path to a topology JSON)");
}

} // namespace shard
