#pragma once

#include "core/topology.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shard::serving {

// What one GPU-hour costs, per GPU kind: "2.49" prices every kind alike; "h100=2.49,
// h200=3.79" names each kind by a name the GPU catalogue knows it by (or its full name, as a
// topology file gives it); "h200=3.79,2.49" prices H200s and every other kind.
class GpuPrices {
public:
    GpuPrices() = default;
    static GpuPrices flat(double usd_per_gpu_hour);
    // Bad text: an error naming the entry.
    static GpuPrices parse(const std::string& text);

    bool empty() const { return !m_default && m_kinds.empty(); }
    // USD per hour of one `gpu`; 0 when no price is given at all. Prices given, but none for
    // this kind: an error naming it.
    double usd_per_gpu_hour(const GpuKind& gpu) const;
    // Whether a price applies to `gpu` (a flat price applies to every kind).
    bool prices(const GpuKind& gpu) const;
    // "H100 SXM 80GB $2.49, H200 SXM 141GB $3.79 per GPU-hour"; empty when unpriced.
    std::string text() const;

private:
    std::optional<double> m_default;
    std::vector<std::pair<std::string, double>> m_kinds; // the catalogue's full names
};

} // namespace shard::serving
