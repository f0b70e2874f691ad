// shardstudio-cli: the headless face of ShardStudio (no Qt).
#include "commands.h"

#include "core/error.h"
#include "cuda/backend_info.h"
#include "shard/version.h"

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
    int exit_code = 0;
    cli::register_run_commands(app, options, exit_code);
    cli::register_history_commands(app, options);

    try {
        app.parse(argc, argv);
        if (app.get_subcommands().empty()) {
            std::cout << app.help();
            return 0;
        }
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const Error& e) {
        if (options.json) // the event protocol's error line, for every command
            std::cout << OrderedJson{{"v", 1}, {"event", "error"}, {"status", "failed"}, {"message", e.what()}}.dump()
                      << std::endl;
        std::cerr << "error: " << e.what() << std::endl;
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << std::endl;
        return 1;
    }
    return exit_code;
}
