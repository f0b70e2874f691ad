#include "profile_command.h"

#include "run/events.h"

#include "engine_commands.h"

#include "cuda/backend_info.h"
#include "cuda/gpu_devices.h"
#include "cuda/gpu_profile.h"

#include "core/gpu_catalog.h"
#include "core/json_util.h"
#include "core/units.h"
#include "cpu/cpu_executor.h"
#include "shard/version.h"
#include "store/profile_store.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

namespace shard::engine {

namespace {

struct ProfileArgs {
    bool quick = false;
    bool json = false;
    bool no_store = false;
    int gpus = 0; // 0: every local GPU
    std::string db;
    std::string out; // a folder for the tables as CSV files
};

void draw_bar(const cuda::ProfileProgress& p)
{
    constexpr int kWidth = 30;
    const int filled = p.total > 0 ? kWidth * p.done / p.total : kWidth;
    std::cerr << "\rprofile [" << std::string(std::size_t(filled), '#')
              << std::string(std::size_t(kWidth - filled), '.') << "] " << (p.total > 0 ? 100 * p.done / p.total : 100)
              << " % " << p.family << "          " << std::flush;
}

int profile(const ProfileArgs& args)
{
    cuda::usable_backend(); // refuses with the reason when the cuda backends cannot run here
    const OrderedJson devices = cuda::describe_devices();
    const int local = int(devices["gpus"].size());
    if (args.gpus < 0 || args.gpus > local)
        throw Error("--gpus " + std::to_string(args.gpus) + ": this machine has " + std::to_string(local) + " GPUs");
    const int used = args.gpus == 0 ? local : args.gpus;
    const std::string name = devices["gpus"][0]["name"].get<std::string>();
    for (int i = 1; i < used; ++i)
        if (devices["gpus"][std::size_t(i)]["name"].get<std::string>() != name)
            throw Error("GPU " + std::to_string(i) + " is a "
                        + devices["gpus"][std::size_t(i)]["name"].get<std::string>() + ", GPU 0 a " + name
                        + ": a profile measures one GPU kind (pass --gpus to use the first ones)");

    cuda::ProfileOptions options;
    options.sweep = args.quick ? cuda::ProfileSweep::quick() : cuda::ProfileSweep::full();
    options.devices = used;
    install_signal_handlers();
    static std::atomic<bool> cancel{false};
    options.cancel = &cancel;
    int last_percent = -1;
    options.on_progress = [&](const cuda::ProfileProgress& p) {
        cancel.store(cancel_requested());
        draw_bar(p);
        const int percent = p.total > 0 ? 100 * p.done / p.total : 100;
        if (args.json && percent != last_percent)
            std::cout << run::to_line(
                run::OtherEvent{"profile_progress", {{"family", p.family}, {"done", p.done}, {"total", p.total}}})
                      << std::endl;
        last_percent = percent;
    };
    MachineProfile profile;
    try {
        profile = cuda::run_profile(options);
    } catch (const run::Cancelled&) {
        std::cerr << "\nprofile cancelled: nothing stored\n";
        if (args.json)
            std::cout << error_line("profile cancelled by signal") << std::endl;
        return 130;
    }
    std::cerr << "\n";
    profile.created_at = utc_now_iso();
    profile.gpu_name = name;
    const auto kind = find_gpu_kind(name);
    profile.gpu_kind = kind ? kind->gpu.name : name;
    profile.driver = devices["driver"].get<std::string>();
    profile.cuda = devices["cuda_runtime"].get<std::string>();
    profile.nccl = devices["nccl"].get<std::string>();
    profile.engine_version = kVersion;
    profile.quick = args.quick;
    if (!kind)
        profile.notes.push_back(
            "the catalog does not know '" + name
            + "': plans for this GPU pick the profile under that name, priced against no datasheet");

    if (!args.out.empty()) {
        std::filesystem::create_directories(args.out);
        for (const auto& [family, csv] : profile.tables)
            write_text_file((std::filesystem::path(args.out) / (family + ".csv")).string(), csv);
        std::cerr << "tables written to " << args.out << "\n";
    }
    if (!args.no_store) {
        RunStore store(args.db.empty() ? RunStore::default_path() : args.db);
        profile.id = add_profile(store, profile);
    }
    std::cerr << "profile " << (profile.id ? "#" + std::to_string(profile.id) + " " : "") << "of " << used << " x "
              << profile.gpu_kind << ": " << profile.measured() << "\n";
    for (const auto& note : profile.notes)
        std::cerr << "  " << note << "\n";
    if (profile.id)
        std::cerr << "Plans for " << profile.gpu_kind << " now predict from it (" << profile.label()
                  << "); --tables shipped predicts from the shipped tables instead.\n";
    if (args.json) {
        const OrderedJson done = {
            {"id", profile.id},    {"gpu_kind", profile.gpu_kind},   {"gpu_name", name},      {"devices", used},
            {"quick", args.quick}, {"measured", profile.measured()}, {"notes", profile.notes}};
        std::cout << run::to_line(run::OtherEvent{"profile", done}) << std::endl;
    }
    return 0;
}

} // namespace

void register_profile_command(CLI::App& app, int& exit_code)
{
    auto args = std::make_shared<ProfileArgs>();
    auto* command = app.add_subcommand(
        "profile",
        "Measure this machine's GPUs (GEMMs per dtype, attention, NCCL over 2..N GPUs) and store the profile "
        "the planner then predicts from");
    command->add_flag("--quick", args->quick, "Fewer shapes and repetitions (about a minute on one GPU)");
    command->add_flag("--json", args->json, "Progress and the result as JSON lines on stdout");
    command->add_option("--gpus", args->gpus, "Use the first N GPUs (default: all)");
    command->add_option("--db", args->db, "The run database (default: $XDG_DATA_HOME/shardstudio/runs.db)");
    command->add_flag("--no-store", args->no_store, "Measure without storing the profile");
    command->add_option("--out", args->out, "Also write the tables as CSV files (resources/perfdb layout) here");
    command->callback([&exit_code, args] { exit_code = profile(*args); });
}

} // namespace shard::engine
