#include "gpu_devices.h"

#include "backend_info.h"
#include "cuda_check.h"
#include "device_collectives.h"

#include "core/units.h"

#include <sstream>

namespace shard::cuda {

namespace {

std::string version_text(int v)
{
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

} // namespace

OrderedJson describe_devices()
{
    const BackendInfo info = backend_info();
    OrderedJson j;
    j["driver"] = info.driver_version ? version_text(info.driver_version) : "none";
    j["cuda_runtime"] = version_text(info.runtime_version);
    j["nccl"] = nccl_version();
    j["status"] = info.status;
    if (!info.reason.empty())
        j["reason"] = info.reason;
    OrderedJson gpus = OrderedJson::array();
    for (int i = 0; i < info.device_count; ++i) {
        cudaDeviceProp p{};
        SHARD_CUDA_CHECK(cudaGetDeviceProperties(&p, i));
        std::size_t free = 0, total = 0;
        SHARD_CUDA_CHECK(cudaSetDevice(i));
        SHARD_CUDA_CHECK(cudaMemGetInfo(&free, &total));
        OrderedJson g;
        g["index"] = i;
        g["name"] = p.name;
        g["memory_bytes"] = std::int64_t(total);
        g["free_bytes"] = std::int64_t(free);
        g["sms"] = p.multiProcessorCount;
        g["compute_capability"] = std::to_string(p.major) + "." + std::to_string(p.minor);
        char bus[32] = {};
        cudaDeviceGetPCIBusId(bus, sizeof(bus), i);
        g["pci_bus"] = bus;
        OrderedJson peers = OrderedJson::array();
        for (int k = 0; k < info.device_count; ++k) {
            if (k == i) {
                peers.push_back("self");
                continue;
            }
            int access = 0, rank = 0;
            cudaDeviceCanAccessPeer(&access, i, k);
            cudaDeviceGetP2PAttribute(&rank, cudaDevP2PAttrPerformanceRank, i, k);
            peers.push_back(access ? "P2P rank " + std::to_string(rank) : "no P2P");
        }
        g["peers"] = peers;
        gpus.push_back(g);
    }
    j["gpus"] = gpus;
    return j;
}

std::string format_devices(const OrderedJson& j)
{
    std::ostringstream out;
    out << "Driver " << j.value("driver", "?") << ", CUDA runtime " << j.value("cuda_runtime", "?") << ", NCCL "
        << j.value("nccl", "?") << "\n";
    if (j.contains("reason"))
        out << "CUDA backends unavailable: " << j["reason"].get<std::string>() << "\n";
    for (const auto& g : j["gpus"]) {
        out << "GPU " << g["index"].get<int>() << ": " << g["name"].get<std::string>() << ", "
            << format_bytes(double(g["memory_bytes"].get<std::int64_t>())) << " ("
            << format_bytes(double(g["free_bytes"].get<std::int64_t>())) << " free), " << g["sms"].get<int>()
            << " SMs, compute capability " << g["compute_capability"].get<std::string>() << ", PCI "
            << g["pci_bus"].get<std::string>() << "\n";
    }
    if (j["gpus"].size() > 1) {
        out << "Peer access (row -> column):\n";
        for (const auto& g : j["gpus"]) {
            out << "  GPU " << g["index"].get<int>() << ":";
            for (const auto& p : g["peers"])
                out << "  " << p.get<std::string>();
            out << "\n";
        }
    }
    return out.str();
}

} // namespace shard::cuda
