#include "gpu_prices.h"

#include "core/error.h"
#include "core/gpu_catalog.h"
#include "core/units.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace shard::serving {

namespace {

std::string trimmed(const std::string& s)
{
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos)
        return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::string lowercase(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

double price_of(const std::string& text, const std::string& entry)
{
    double usd = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), usd);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !(usd >= 0))
        throw Error("a GPU-hour price is a number of US dollars, at least 0: '" + entry + "'");
    return usd;
}

} // namespace

GpuPrices GpuPrices::flat(double usd_per_gpu_hour)
{
    GpuPrices p;
    if (usd_per_gpu_hour > 0)
        p.m_default = usd_per_gpu_hour;
    return p;
}

GpuPrices GpuPrices::parse(const std::string& text)
{
    GpuPrices p;
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        const std::string entry = trimmed(text.substr(at, comma - at));
        at = comma + 1;
        if (entry.empty()) {
            if (text.find_first_not_of(" \t") == std::string::npos)
                break; // no price at all
            throw Error("an empty entry in the GPU prices '" + text + "': give KIND=USD or USD, separated by commas");
        }
        const std::size_t eq = entry.find('=');
        if (eq == std::string::npos) {
            if (p.m_default)
                throw Error("two prices for every GPU kind in '" + text + "'");
            p.m_default = price_of(entry, entry);
            continue;
        }
        const std::string kind = trimmed(entry.substr(0, eq));
        if (kind.empty())
            throw Error("a GPU price without its kind: '" + entry + "'");
        const auto known = find_gpu_kind(kind);
        const std::string name = known ? known->gpu.name : kind;
        if (std::any_of(p.m_kinds.begin(), p.m_kinds.end(),
                        [&](const auto& k) { return lowercase(k.first) == lowercase(name); }))
            throw Error("two prices for " + name + " in '" + text + "'");
        p.m_kinds.emplace_back(name, price_of(trimmed(entry.substr(eq + 1)), entry));
    }
    return p;
}

bool GpuPrices::prices(const GpuKind& gpu) const
{
    return m_default || std::any_of(m_kinds.begin(), m_kinds.end(), [&](const auto& k) {
               return lowercase(k.first) == lowercase(gpu.name);
           });
}

double GpuPrices::usd_per_gpu_hour(const GpuKind& gpu) const
{
    for (const auto& [name, usd] : m_kinds)
        if (lowercase(name) == lowercase(gpu.name))
            return usd;
    if (m_default)
        return *m_default;
    if (m_kinds.empty())
        return 0;
    throw Error("no GPU-hour price for " + gpu.name + ": add one for it (" + text() + " given)");
}

std::string GpuPrices::text() const
{
    std::string out;
    for (const auto& [name, usd] : m_kinds)
        out += (out.empty() ? "" : ", ") + name + " $" + format_fixed(usd, 2);
    if (m_default)
        out += (out.empty() ? "$" : ", other kinds $") + format_fixed(*m_default, 2);
    return out.empty() ? out : out + " per GPU-hour";
}

} // namespace shard::serving
