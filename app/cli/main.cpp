// shardstudio-cli: the headless face of ShardStudio (no Qt).
#include "commands.h"

#include "core/error.h"
#include "core/json_util.h"
#include "cuda/backend_info.h"
#include "run/events.h"
#include "shard/version.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

int main(int argc, char** argv)
{
    using namespace shard;
    CLI::App app{"ShardStudio: plan tensor-parallel LLM inference over GPUs", "shardstudio-cli"};
    app.require_subcommand(0, 1);
    app.fallthrough();
    cli::GlobalOptions options;
    app.add_flag("--json", options.json, "Print machine-readable JSON");
    app.set_version_flag("--version", [] {
        const auto cuda = shard::cuda::backend_info();
        return std::string("shardstudio-cli ") + kVersion + "\nCUDA backend: " + cuda.status;
    });

    cli::register_model_commands(app, options);
    cli::register_topology_commands(app, options);
    cli::register_plan_commands(app, options);
    cli::register_price_command(app, options);
    cli::register_serve_commands(app, options);
    int exit_code = 0;
    cli::register_run_commands(app, options, exit_code);
    cli::register_history_commands(app, options);
    cli::register_op_commands(app, options);

    // The event protocol's error line, for every command; dump_json keeps a message that
    // quotes bytes that are not UTF-8 (a file name, say) printable.
    auto fail = [&options](const std::string& message) {
        if (options.json)
            std::cout << run::to_line(run::ErrorEvent{"failed", message}) << std::endl;
        std::cerr << "error: " << message << std::endl;
        return 1;
    };
    try {
        app.parse(argc, argv);
        if (app.get_subcommands().empty())
            std::cout << app.help();
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    // Output that never arrived (a full disk, a closed pipe) is a failure, not a success.
    if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout.flush()) {
        std::cerr << "error: writing standard output failed: " << std::strerror(errno) << std::endl;
        return 1;
    }
    return exit_code;
}
