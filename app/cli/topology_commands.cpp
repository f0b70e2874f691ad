#include "commands.h"

#include "core/gpu_detect.h"
#include "core/presets.h"
#include "core/units.h"

#include <iostream>

namespace shard::cli {

namespace {

std::string link_text(const Link& link)
{
    if (link.kind == "none" || link.busbw_gbps <= 0)
        return "-";
    return link.kind + " " + format_fixed(link.busbw_gbps, 0) + " GB/s busbw, " + format_fixed(link.latency_us, 1)
           + " us";
}

void show_topology(const Topology& t, const GlobalOptions& options)
{
    if (options.json) {
        OrderedJson j = topology_to_json(t);
        j["total_gpus"] = t.total_gpus();
        j["total_memory_bytes"] = t.total_memory_bytes();
        print_json(j);
        return;
    }
    std::cout << t.name << "  (id " << t.id << ")\n\n";
    TextTable table({"field", "value"});
    table.add_row({"GPUs", std::to_string(t.nodes) + " node(s) x " + std::to_string(t.gpus_per_node) + " = "
                               + std::to_string(t.total_gpus())});
    table.add_row({"GPU kind", t.gpu.name});
    table.add_row({"memory / GPU", format_bytes(double(t.gpu.memory_bytes))});
    table.add_row({"bf16 peak / GPU", format_fixed(t.gpu.bf16_tflops, 0) + " TFLOP/s (dense)"});
    table.add_row({"HBM / GPU", format_fixed(t.gpu.hbm_gbps, 0) + " GB/s"});
    table.add_row({"intra-node", link_text(t.intra)});
    if (t.nodes > 1) {
        table.add_row({"inter-node", std::to_string(t.nics_per_node) + " NIC(s) per node, " + link_text(t.inter)});
        table.add_row({"network / GPU", format_fixed(t.inter_busbw_per_gpu_gbps(), 1) + " GB/s busbw"});
    }
    table.add_row({"total memory", format_bytes(double(t.total_memory_bytes()))});
    std::cout << table.render();
}

void detect(const GlobalOptions& options)
{
    const GpuDetection d = detect_local_gpus();
    if (options.json) {
        OrderedJson j;
        j["driver_found"] = d.driver_found;
        j["message"] = d.message;
        j["driver_version"] = d.driver_version;
        j["cuda_driver_version"] = d.cuda_driver_version;
        OrderedJson gpus = OrderedJson::array();
        for (const auto& g : d.gpus)
            gpus.push_back({{"index", g.index},
                            {"name", g.name},
                            {"memory_bytes", g.memory_bytes},
                            {"active_nvlinks", g.active_nvlinks}});
        j["gpus"] = gpus;
        j["peer"] = d.peer;
        if (!d.gpus.empty())
            j["topology"] = topology_to_json(topology_from_detection(d));
        print_json(j);
        return;
    }
    if (d.gpus.empty()) {
        std::cout << "No local GPU: " << d.message << '\n';
        return;
    }
    std::cout << "Driver " << d.driver_version << ", CUDA " << d.cuda_driver_version << "\n\n";
    TextTable gpus({"GPU", "name", "memory", "NVLinks"});
    for (const auto& g : d.gpus)
        gpus.add_row(
            {std::to_string(g.index), g.name, format_bytes(double(g.memory_bytes)), std::to_string(g.active_nvlinks)});
    std::cout << gpus.render() << '\n';
    std::vector<std::string> header{"peer"};
    for (const auto& g : d.gpus)
        header.push_back("GPU" + std::to_string(g.index));
    TextTable peer(header);
    for (std::size_t i = 0; i < d.peer.size(); ++i) {
        std::vector<std::string> row{"GPU" + std::to_string(i)};
        row.insert(row.end(), d.peer[i].begin(), d.peer[i].end());
        peer.add_row(row);
    }
    std::cout << peer.render() << '\n';
    show_topology(topology_from_detection(d), options);
}

} // namespace

void register_topology_commands(CLI::App& app, const GlobalOptions& options)
{
    auto* topologies = app.add_subcommand("topologies", "List the topology presets");
    topologies->callback([&options] {
        const auto& library = PresetLibrary::instance();
        if (options.json) {
            OrderedJson list = OrderedJson::array();
            for (const auto& t : library.topologies())
                list.push_back(topology_to_json(t));
            print_json(list);
            return;
        }
        TextTable table({"id", "name", "GPUs", "GPU kind", "memory/GPU", "intra-node", "inter-node"},
                        {TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Right});
        for (const auto& t : library.topologies()) {
            table.add_row({t.id, t.name, std::to_string(t.total_gpus()), t.gpu.name,
                           format_bytes(double(t.gpu.memory_bytes)), link_text(t.intra),
                           t.nodes > 1 ? std::to_string(t.nics_per_node) + "x " + link_text(t.inter) : "-"});
        }
        std::cout << table.render();
    });

    auto* topology = app.add_subcommand("topology", "Inspect a topology or detect the local GPUs");
    topology->require_subcommand(1);
    auto* show = topology->add_subcommand("show", "Show a topology preset or file");
    auto name = std::make_shared<std::string>();
    show->add_option("NAME", *name, "Preset id or topology JSON")->required();
    show->callback([&options, name] { show_topology(PresetLibrary::instance().topology(*name), options); });
    auto* detect_cmd = topology->add_subcommand("detect", "Detect the GPUs of this machine through the NVIDIA driver");
    detect_cmd->callback([&options] { detect(options); });
}

} // namespace shard::cli
