#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace shard::engine {

void register_commands(CLI::App& app, int& exit_code);
// {"v":1,"event":"error","message":...}
std::string error_line(const std::string& message);

} // namespace shard::engine
