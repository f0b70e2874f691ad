#include "engine_case_selection.h"

#include "test_tier.h"

#include "core/strategy.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

namespace shard::test {

const std::vector<cuda::SelftestCase>& fp32Cases()
{
    static const auto cases = cuda::selftest_cases({cuda::GpuDType::F32}, 1);
    return cases;
}

// The cases of more ranks than eight stay emulated and are left out here.
const std::vector<cuda::SelftestCase>& eightGpuCases()
{
    static const auto cases = [] {
        std::vector<cuda::SelftestCase> real;
        for (const auto& c : cuda::selftest_cases({cuda::GpuDType::F32, cuda::GpuDType::BF16}, 8))
            if (!c.emulated)
                real.push_back(c);
        return real;
    }();
    return cases;
}

// MoE routing stays fp32 (see selftest_cases), so these are the dense models.
const std::vector<cuda::SelftestCase>& halfCases()
{
    static const auto cases = cuda::selftest_cases({cuda::GpuDType::BF16, cuda::GpuDType::F16}, 1);
    return cases;
}

namespace {

// The kernel paths a model or a mesh adds to the dense reference's: each is a feature the
// kernels themselves must run at least once per element type.
std::vector<std::string> features(const cuda::SelftestCase& c)
{
    const ModelSpec& m = c.plan.model;
    const Strategy& s = c.plan.strategy;
    std::vector<std::string> f;
    if (s.pp > 1)
        f.emplace_back("pp");
    if (s.dp > 1)
        f.emplace_back("dp");
    if (s.ep > 1)
        f.push_back("ep" + std::to_string(s.ep));
    if (s.attention == AttentionMode::Data)
        f.emplace_back("attn-dp");
    if (c.overlap)
        f.emplace_back("overlap");
    if (m.is_moe())
        f.emplace_back("moe");
    if (m.norm == NormKind::LayerNorm)
        f.emplace_back("layernorm");
    if (!m.is_moe() && m.kv_heads < m.heads) // the MoE model is GQA too; its kinds are its layouts
        f.emplace_back("gqa");
    if (m.qk_norm)
        f.emplace_back("qk-norm");
    return f;
}

// 1D layouts share the engine's 1D kernels; the 2D / 2.5D / 3D grids share the grid ones.
std::string family(const cuda::SelftestCase& c)
{
    return tensor_rank(c.plan.strategy.tensor_mode) > 1 ? "grid" : "1d";
}

// The keys a case can be the first of: a case is selected when it is the first of any.
std::vector<std::string> keys(const cuda::SelftestCase& c, KernelBuild build)
{
    const std::string type = " " + to_string(c.dtype);
    const std::string mode = to_string(c.plan.strategy.tensor_mode);
    if (build == KernelBuild::HostLoops && !sanitized())
        return {layoutKind(c) + type};
    // Each tensor layout (dense and MoE apart: the MoE blocks shard differently), and each
    // feature within each family of layouts.
    std::vector<std::string> k{mode + (c.plan.model.is_moe() ? " moe" : "") + type};
    // With sanitizers the kernels take each tensor layout and each model's own kernel paths
    // (GQA, qk-norm, LayerNorm) once; the host loops there still take every feature in each
    // family of layouts.
    const bool sanitized_kernels = build == KernelBuild::DeviceKernels && sanitized();
    for (const std::string& f : features(c)) {
        if (!sanitized_kernels)
            k.push_back(family(c) + " " + f + type);
        else if (f == "gqa" || f == "qk-norm" || f == "layernorm")
            k.push_back(f + type);
    }
    return k;
}

// Which element types a build runs in the CI tier. Sanitizers: fp32 and bf16 through the
// host loops (fp16 has bf16's size and paths), fp32 alone through the kernels.
bool type_in_tier(const cuda::SelftestCase& c, KernelBuild build)
{
    if (!sanitized())
        return true;
    if (build == KernelBuild::DeviceKernels)
        return c.dtype == cuda::GpuDType::F32;
    return c.dtype != cuda::GpuDType::F16;
}

struct Shard {
    int index = 0;
    int count = 1;
};

Shard shard_from_environment()
{
    const char* value = std::getenv("SHARD_TEST_SHARD");
    if (!value || !*value)
        return {};
    Shard s;
    char tail = 0;
    if (std::sscanf(value, "%d/%d%c", &s.index, &s.count, &tail) != 2 || s.count < 1 || s.index < 0
        || s.index >= s.count)
        throw std::invalid_argument(std::string("SHARD_TEST_SHARD is '") + value + "': expected K/N with 0 <= K < N");
    return s;
}

bool in_tier(const cuda::SelftestCase& c, KernelBuild build)
{
    if (tier() == Tier::Full)
        return true;
    // First of each key in the order of the three matrices, so a case's answer does not
    // depend on which test function asks.
    static std::map<KernelBuild, std::set<const cuda::SelftestCase*>> chosen;
    auto [it, fresh] = chosen.try_emplace(build);
    if (fresh) {
        std::set<std::string> seen;
        for (const auto* list : {&fp32Cases(), &eightGpuCases(), &halfCases()})
            for (const auto& x : *list) {
                // On eight "GPUs" the kernels are the emulated cases' own: the full tier runs them.
                if (build == KernelBuild::DeviceKernels && list == &eightGpuCases())
                    break;
                if (!type_in_tier(x, build))
                    continue;
                bool first = false;
                for (const std::string& key : keys(x, build))
                    first = seen.insert(key).second || first;
                if (first)
                    it->second.insert(&x);
            }
    }
    return it->second.count(&c) > 0;
}

} // namespace

std::string layoutKind(const cuda::SelftestCase& c)
{
    std::string kind = to_string(c.plan.strategy.tensor_mode);
    for (const std::string& f : features(c))
        kind += " " + f;
    return kind;
}

bool selected(const cuda::SelftestCase& c, KernelBuild build)
{
    if (!in_tier(c, build))
        return false;
    static const Shard shard = shard_from_environment();
    if (shard.count == 1)
        return true;
    // The position of the case among the selected ones of all three matrices.
    static std::map<KernelBuild, std::map<const cuda::SelftestCase*, int>> positions;
    auto [it, fresh] = positions.try_emplace(build);
    if (fresh) {
        int n = 0;
        for (const auto* list : {&fp32Cases(), &eightGpuCases(), &halfCases()})
            for (const auto& x : *list)
                if (in_tier(x, build))
                    it->second.emplace(&x, n++);
    }
    const auto p = it->second.find(&c);
    if (p == it->second.end())
        throw std::logic_error("selected() takes a case of fp32Cases(), eightGpuCases() or halfCases()");
    return p->second % shard.count == shard.index;
}

} // namespace shard::test
