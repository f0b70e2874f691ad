#include "resources.h"

#include "error.h"

#include <cstdlib>

namespace shard {

namespace fs = std::filesystem;

fs::path executable_directory()
{
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::current_path() : self.parent_path();
}

namespace {

bool is_data_directory(const fs::path& dir)
{
    std::error_code ec;
    return fs::is_directory(dir / "models", ec) && fs::is_directory(dir / "topologies", ec);
}

} // namespace

fs::path data_directory()
{
    if (const char* env = std::getenv("SHARDSTUDIO_DATA_DIR"); env && *env) {
        if (!is_data_directory(env))
            throw Error(std::string("SHARDSTUDIO_DATA_DIR=") + env + " holds no models/ and topologies/ folders");
        return env;
    }
    const fs::path exe = executable_directory();
    if (is_data_directory(exe / ".." / "share" / "shardstudio"))
        return fs::weakly_canonical(exe / ".." / "share" / "shardstudio");
    // Development: walk up from the binary to a source tree's resources/ folder.
    for (fs::path dir = exe; !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
        if (is_data_directory(dir / "resources"))
            return dir / "resources";
    }
    throw Error("cannot find the ShardStudio data folder (models/, topologies/) next to " + exe.string()
                + "; set SHARDSTUDIO_DATA_DIR");
}

} // namespace shard
