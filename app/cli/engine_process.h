#pragma once

#include <functional>
#include <string>
#include <vector>

namespace shard::cli {

// Where shard-engine lives: beside this executable (installed or built), else on PATH.
// Empty when it is neither.
std::string find_engine();

// Runs shard-engine with `args` and `input` on its standard input, hands every stdout line
// to `on_line` as it arrives and lets stderr through. `cancel_requested` is polled; when it turns true the engine gets
// SIGTERM (it reports a cancelled run and exits 130). Returns the engine's exit code
// (128 + signal when it was killed).
int run_engine(const std::string& engine, const std::vector<std::string>& args, const std::string& input,
               const std::function<void(const std::string&)>& on_line, const std::function<bool()>& cancel_requested);

} // namespace shard::cli
