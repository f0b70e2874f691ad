#include "gpu_detect.h"

#include "error.h"
#include "gpu_catalog.h"

#include <dlfcn.h>

#include <memory>

namespace shard {

namespace {

// The handful of NVML entry points we need, declared here so no NVML header is required.
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct NvmlMemory {
    unsigned long long total, free, used;
};
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlP2PCapsRead = 0;
constexpr int kNvmlP2PStatusOk = 0;
constexpr unsigned kMaxNvLinks = 18;

struct Nvml {
    void* handle = nullptr;
    nvmlReturn_t (*init)() = nullptr;
    nvmlReturn_t (*shutdown)() = nullptr;
    nvmlReturn_t (*device_count)(unsigned*) = nullptr;
    nvmlReturn_t (*device_by_index)(unsigned, nvmlDevice_t*) = nullptr;
    nvmlReturn_t (*device_name)(nvmlDevice_t, char*, unsigned) = nullptr;
    nvmlReturn_t (*device_memory)(nvmlDevice_t, NvmlMemory*) = nullptr;
    nvmlReturn_t (*driver_version)(char*, unsigned) = nullptr;
    nvmlReturn_t (*cuda_version)(int*) = nullptr;
    nvmlReturn_t (*p2p_status)(nvmlDevice_t, nvmlDevice_t, int, int*) = nullptr;
    nvmlReturn_t (*nvlink_state)(nvmlDevice_t, unsigned, int*) = nullptr;

    ~Nvml()
    {
        if (shutdown)
            shutdown();
        if (handle)
            dlclose(handle);
    }

    template<typename F> void bind(F& fn, const char* symbol) { fn = reinterpret_cast<F>(dlsym(handle, symbol)); }
};

} // namespace

GpuDetection detect_local_gpus()
{
    GpuDetection result;
    auto nvml = std::make_unique<Nvml>();
    nvml->handle = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!nvml->handle) {
        result.message = "no NVIDIA driver found (libnvidia-ml.so.1 could not be loaded); "
                         "pick a topology preset instead";
        return result;
    }
    nvml->bind(nvml->init, "nvmlInit_v2");
    nvml->bind(nvml->device_count, "nvmlDeviceGetCount_v2");
    nvml->bind(nvml->device_by_index, "nvmlDeviceGetHandleByIndex_v2");
    nvml->bind(nvml->device_name, "nvmlDeviceGetName");
    nvml->bind(nvml->device_memory, "nvmlDeviceGetMemoryInfo");
    nvml->bind(nvml->driver_version, "nvmlSystemGetDriverVersion");
    nvml->bind(nvml->cuda_version, "nvmlSystemGetCudaDriverVersion_v2");
    nvml->bind(nvml->p2p_status, "nvmlDeviceGetP2PStatus");
    nvml->bind(nvml->nvlink_state, "nvmlDeviceGetNvLinkState");
    if (!nvml->init || !nvml->device_count || !nvml->device_by_index || !nvml->device_name || !nvml->device_memory) {
        result.message = "the NVIDIA management library is too old (missing entry points)";
        return result;
    }
    if (nvml->init() != kNvmlSuccess) {
        result.message = "the NVIDIA driver did not initialise (is the kernel module loaded?)";
        return result;
    }
    nvml->bind(nvml->shutdown, "nvmlShutdown");
    result.driver_found = true;
    char text[96] = {};
    if (nvml->driver_version && nvml->driver_version(text, sizeof(text)) == kNvmlSuccess)
        result.driver_version = text;
    int cuda = 0;
    if (nvml->cuda_version && nvml->cuda_version(&cuda) == kNvmlSuccess)
        result.cuda_driver_version = std::to_string(cuda / 1000) + "." + std::to_string((cuda % 1000) / 10);
    unsigned count = 0;
    nvml->device_count(&count);
    std::vector<nvmlDevice_t> devices(count);
    for (unsigned i = 0; i < count; ++i) {
        DetectedGpu gpu;
        gpu.index = int(i);
        if (nvml->device_by_index(i, &devices[i]) != kNvmlSuccess)
            continue;
        if (nvml->device_name(devices[i], text, sizeof(text)) == kNvmlSuccess)
            gpu.name = text;
        NvmlMemory memory{};
        if (nvml->device_memory(devices[i], &memory) == kNvmlSuccess)
            gpu.memory_bytes = static_cast<std::int64_t>(memory.total);
        for (unsigned link = 0; nvml->nvlink_state && link < kMaxNvLinks; ++link) {
            int active = 0;
            if (nvml->nvlink_state(devices[i], link, &active) == kNvmlSuccess && active)
                ++gpu.active_nvlinks;
        }
        result.gpus.push_back(gpu);
    }
    for (unsigned i = 0; i < count; ++i) {
        std::vector<std::string> row;
        for (unsigned j = 0; j < count; ++j) {
            int status = -1;
            const bool direct = i != j && nvml->p2p_status
                                && nvml->p2p_status(devices[i], devices[j], kNvmlP2PCapsRead, &status) == kNvmlSuccess
                                && status == kNvmlP2PStatusOk;
            row.emplace_back(
                i == j ? std::string("X")
                : !direct
                    ? std::string("-")
                    : std::string(i < result.gpus.size() && result.gpus[i].active_nvlinks > 0 ? "NVLINK" : "P2P"));
        }
        result.peer.push_back(std::move(row));
    }
    if (count == 0)
        result.message = "the NVIDIA driver is loaded but reports no GPU";
    return result;
}

Topology topology_from_detection(const GpuDetection& detection)
{
    if (detection.gpus.empty())
        throw Error("no local GPU to build a topology from: " + detection.message);
    const DetectedGpu& first = detection.gpus.front();
    Topology t;
    t.id = "local";
    t.name = "This machine (" + std::to_string(detection.gpus.size()) + "x " + first.name + ")";
    t.gpus_per_node = static_cast<int>(detection.gpus.size());
    if (const auto entry = find_gpu_kind(first.name)) {
        t.gpu = entry->gpu;
        t.intra = entry->typical_intra;
    } else {
        // Unknown kind: keep its memory, assume a modest mid-range part.
        t.gpu = GpuKind{first.name, 0, 100, 1000, 80};
        t.intra = Link{"pcie", 20, 15};
    }
    t.gpu.name = first.name;
    if (first.memory_bytes > 0)
        t.gpu.memory_bytes = first.memory_bytes;
    if (first.active_nvlinks == 0 && t.intra.kind != "pcie")
        t.intra = Link{"pcie", 20, 15};
    t.inter = Link{"none", 0, 0};
    return t;
}

} // namespace shard
