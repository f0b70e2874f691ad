#pragma once

#include "cli_output.h"

#include "core/checked_number.h"

#include <CLI/CLI.hpp>

namespace shard::cli {

// Each area registers its subcommands; callbacks run inside CLI::App::parse and report
// failures by throwing shard::Error, which main() turns into a message and exit code 1.
void register_model_commands(CLI::App& app, const GlobalOptions& options);
void register_topology_commands(CLI::App& app, const GlobalOptions& options);
void register_plan_commands(CLI::App& app, const GlobalOptions& options);
// `run` reports its outcome through exit_code (0 ok, 4 check failed, 130 cancelled).
void register_run_commands(CLI::App& app, const GlobalOptions& options, int& exit_code);
void register_history_commands(CLI::App& app, const GlobalOptions& options);
void register_op_commands(CLI::App& app, const GlobalOptions& options);
void register_price_command(CLI::App& app, const GlobalOptions& options);
void register_serve_commands(CLI::App& app, const GlobalOptions& options);

// An integer option is checked against the range every reader of that quantity uses.
inline CLI::Range in_range(IntRange range)
{
    return CLI::Range(range.min, range.max);
}

} // namespace shard::cli
