// shard-engine: the GPU worker. Runs plans on the CUDA engine and speaks the event protocol
// (JSON Lines on stdout); the CLI and the studio launch it and store what it reports.
// Human-readable text goes to stderr. Qt-free, so it runs on GPU nodes without Qt.
#include "engine_commands.h"

#include "cuda/backend_info.h"

#include "core/error.h"
#include "shard/version.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include <unistd.h>

int main(int argc, char** argv)
{
    CLI::App app{"shard-engine: run ShardStudio plans on GPUs (cuBLAS, NCCL) and report measurements"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("shard-engine ") + shard::kVersion
                                          + ", CUDA backend: " + shard::cuda::backend_info().status);
    int exit_code = 0;
    shard::engine::register_commands(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::cout << shard::engine::error_line(e.what()) << std::endl;
        // A parent (the CLI, the studio) reports the error event itself; on a terminal the
        // line above is already visible.
        if (!std::getenv("SHARD_ENGINE_PARENT") && !isatty(STDOUT_FILENO))
            std::cerr << "shard-engine: " << e.what() << "\n";
        return 1;
    }
    return exit_code;
}
