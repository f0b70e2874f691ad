#include "gpu_catalog.h"

#include <algorithm>
#include <cctype>

namespace shard {

namespace {

constexpr std::int64_t GiB(double value)
{
    return static_cast<std::int64_t>(value * 1024.0 * 1024.0 * 1024.0);
}

} // namespace

const std::vector<GpuCatalogEntry>& gpu_catalog()
{
    // Order matters: the first match wins, so specific names come before general ones.
    static const std::vector<GpuCatalogEntry> catalog = {
        {{"GB200", GiB(186), 2500, 8000, 148}, {"nvswitch", 800, 8}, {"gb200"}},
        {{"B200", GiB(180), 2250, 8000, 148}, {"nvswitch", 800, 8}, {"b200"}},
        {{"H200 SXM 141GB", GiB(141), 989, 4800, 132}, {"nvswitch", 450, 8}, {"h200"}},
        {{"H100 PCIe 80GB", GiB(80), 756, 2000, 114}, {"pcie", 25, 15}, {"h100 pcie"}},
        {{"H100 SXM 80GB", GiB(80), 989, 3350, 132}, {"nvswitch", 450, 8}, {"h100"}},
        {{"A100 SXM 80GB", GiB(80), 312, 2039, 108},
         {"nvswitch", 230, 10},
         {"a100-sxm4-80gb", "a100 80gb", "a100-80gb", "a100 sxm4 80gb"}},
        {{"A100 40GB", GiB(40), 312, 1555, 108}, {"nvswitch", 230, 10}, {"a100"}},
        {{"L40S", GiB(48), 362, 864, 142}, {"pcie", 20, 15}, {"l40s"}},
        {{"L4", GiB(24), 121, 300, 58}, {"pcie", 12, 15}, {" l4"}},
        {{"RTX 4090", GiB(24), 165, 1008, 128}, {"pcie", 12, 15}, {"4090"}},
    };
    return catalog;
}

std::optional<GpuCatalogEntry> find_gpu_kind(const std::string& device_name)
{
    std::string lower = " " + device_name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // The catalog's own names first: "A100 SXM 80GB" is the 80 GB part, though only the
    // 40 GB entry's driver-name pattern ("a100") occurs in it.
    for (const auto& entry : gpu_catalog())
        if (entry.gpu.name == device_name)
            return entry;
    for (const auto& entry : gpu_catalog()) {
        for (const auto& needle : entry.match) {
            if (lower.find(needle) != std::string::npos)
                return entry;
        }
    }
    return std::nullopt;
}

} // namespace shard
