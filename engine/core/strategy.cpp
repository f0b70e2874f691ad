#include "strategy.h"

#include "checked_number.h"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <optional>
#include <set>

namespace shard {

namespace {

std::string trimmed(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

} // namespace

int tensor_rank(TensorMode mode)
{
    switch (mode) {
    case TensorMode::None:
        return 0;
    case TensorMode::Column1D:
    case TensorMode::Row1D:
    case TensorMode::Megatron1D:
    case TensorMode::MegatronSP:
        return 1;
    case TensorMode::Summa2D:
    case TensorMode::WeightStationary2D:
        return 2;
    case TensorMode::Tesseract25D:
    case TensorMode::Cube3D:
        return 3;
    }
    return 0;
}

std::vector<std::string> tensor_axis_names(TensorMode mode)
{
    switch (tensor_rank(mode)) {
    case 1:
        return {"tp"};
    case 2:
        return {"tp_row", "tp_col"};
    case 3:
        return mode == TensorMode::Tesseract25D ? std::vector<std::string>{"tp_depth", "tp_row", "tp_col"}
                                                : std::vector<std::string>{"tp_z", "tp_row", "tp_col"};
    default:
        return {};
    }
}

int Strategy::tensor_size() const
{
    return std::accumulate(tensor_shape.begin(), tensor_shape.end(), 1, std::multiplies<>());
}

std::vector<MeshAxis> Strategy::mesh() const
{
    std::vector<MeshAxis> axes{{"pp", pp}, {"dp", dp}};
    const auto names = tensor_axis_names(tensor_mode);
    for (std::size_t i = 0; i < names.size() && i < tensor_shape.size(); ++i)
        axes.push_back({names[i], tensor_shape[i]});
    return axes;
}

std::vector<int> balanced_stage_split(int layers, int stages)
{
    std::vector<int> split(std::max(stages, 1), layers / std::max(stages, 1));
    for (int i = 0; i < layers % std::max(stages, 1); ++i)
        ++split[i];
    return split;
}

std::vector<int> Strategy::resolved_stage_layers(int layers) const
{
    return stage_layers.empty() ? balanced_stage_split(layers, pp) : stage_layers;
}

int Strategy::gpu_of(int mesh_position) const
{
    return placement.empty() ? mesh_position : placement.at(mesh_position);
}

std::string Strategy::label() const
{
    std::string text;
    auto add = [&](const std::string& part) { text += (text.empty() ? "" : " x ") + part; };
    if (pp > 1)
        add("PP" + std::to_string(pp));
    if (dp > 1)
        add("DP" + std::to_string(dp));
    const int t = tensor_size();
    switch (tensor_mode) {
    case TensorMode::None:
        break;
    case TensorMode::Column1D:
        add("TP" + std::to_string(t) + " column");
        break;
    case TensorMode::Row1D:
        add("TP" + std::to_string(t) + " row");
        break;
    case TensorMode::Megatron1D:
        add("TP" + std::to_string(t));
        break;
    case TensorMode::MegatronSP:
        add("TP" + std::to_string(t) + "+SP");
        break;
    case TensorMode::Summa2D:
        add("SUMMA " + std::to_string(tensor_shape[0]) + "x" + std::to_string(tensor_shape[1]));
        break;
    case TensorMode::WeightStationary2D:
        add("2D-WS " + std::to_string(tensor_shape[0]) + "x" + std::to_string(tensor_shape[1]));
        break;
    case TensorMode::Tesseract25D:
        add("2.5D " + std::to_string(tensor_shape[1]) + "x" + std::to_string(tensor_shape[2]) + "x"
            + std::to_string(tensor_shape[0]));
        break;
    case TensorMode::Cube3D:
        add("3D " + std::to_string(tensor_shape[0]) + "^3");
        break;
    }
    if (attention == AttentionMode::Data && t > 1)
        text += " attn-DP";
    if (ep > 1)
        add("EP" + std::to_string(ep));
    return text.empty() ? "single GPU" : text;
}

void Strategy::validate(int layers, int available_gpus) const
{
    checked_in(pp, limits::kMeshAxis, "strategy: pp");
    checked_in(dp, limits::kMeshAxis, "strategy: dp");
    checked_in(ep, limits::kMeshAxis, "strategy: ep");
    const int rank = tensor_rank(tensor_mode);
    if (int(tensor_shape.size()) != rank)
        throw Error("strategy: tensor mode '" + to_string(tensor_mode) + "' needs a shape of " + std::to_string(rank)
                    + " axes, got " + std::to_string(tensor_shape.size()));
    // The GPU count is formed in 64 bits and compared before anything multiplies the axes
    // in int: a mesh of 65536 x 65536 x ... must not wrap round to a small number.
    std::int64_t needed = checked_mul(pp, dp, "strategy: the mesh's GPU count");
    for (const int size : tensor_shape)
        needed = checked_mul(needed, checked_in(size, limits::kMeshAxis, "strategy: a tensor axis size"),
                             "strategy: the mesh's GPU count");
    if (needed > available_gpus)
        throw Error("strategy: needs " + std::to_string(needed) + " GPUs, the topology has "
                    + std::to_string(available_gpus) + " (mesh " + mesh_text() + ")");
    if (tensor_mode == TensorMode::Summa2D && tensor_shape[0] != tensor_shape[1])
        throw Error("strategy: SUMMA needs a square q x q grid, got " + std::to_string(tensor_shape[0]) + "x"
                    + std::to_string(tensor_shape[1]));
    if (tensor_mode == TensorMode::Tesseract25D && tensor_shape[1] != tensor_shape[2])
        throw Error("strategy: 2.5D needs a q x q x d grid with equal q");
    if (tensor_mode == TensorMode::Cube3D && (tensor_shape[0] != tensor_shape[1] || tensor_shape[1] != tensor_shape[2]))
        throw Error("strategy: 3D needs a q x q x q cube");
    if ((dp * tensor_size()) % ep != 0)
        throw Error("strategy: ep (" + std::to_string(ep) + ") must divide dp x tensor size ("
                    + std::to_string(dp * tensor_size()) + ")");
    if (pp > layers)
        throw Error("strategy: " + std::to_string(pp) + " pipeline stages for " + std::to_string(layers) + " layers");
    if (!stage_layers.empty()) {
        if (int(stage_layers.size()) != pp)
            throw Error("strategy: stage_layers lists " + std::to_string(stage_layers.size()) + " stages, pp is "
                        + std::to_string(pp));
        if (std::accumulate(stage_layers.begin(), stage_layers.end(), 0) != layers
            || *std::min_element(stage_layers.begin(), stage_layers.end()) < 1)
            throw Error("strategy: stage_layers must be positive and sum to the model's " + std::to_string(layers)
                        + " layers");
    }
    if (!placement.empty()) {
        if (int(placement.size()) != devices())
            throw Error("strategy: placement lists " + std::to_string(placement.size()) + " GPUs, the mesh has "
                        + std::to_string(devices()));
        std::vector<int> sorted = placement;
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() || sorted.front() < 0
            || sorted.back() >= available_gpus)
            throw Error("strategy: placement must list distinct GPU indices below " + std::to_string(available_gpus));
    }
}

namespace {

struct ModeName {
    TensorMode mode;
    const char* name;
};
constexpr ModeName kModeNames[] = {
    {TensorMode::None, "none"},
    {TensorMode::Column1D, "1d-column"},
    {TensorMode::Row1D, "1d-row"},
    {TensorMode::Megatron1D, "megatron"},
    {TensorMode::MegatronSP, "megatron-sp"},
    {TensorMode::Summa2D, "2d-summa"},
    {TensorMode::WeightStationary2D, "2d-weight-stationary"},
    {TensorMode::Tesseract25D, "2.5d-tesseract"},
    {TensorMode::Cube3D, "3d-cube"},
};

} // namespace

std::string to_string(TensorMode mode)
{
    for (const auto& entry : kModeNames) {
        if (entry.mode == mode)
            return entry.name;
    }
    return "none";
}

TensorMode parse_tensor_mode(const std::string& text)
{
    std::string known;
    for (const auto& entry : kModeNames) {
        if (text == entry.name)
            return entry.mode;
        known += (known.empty() ? "" : ", ") + std::string(entry.name);
    }
    throw Error("unknown tensor mode '" + text + "' (expected one of " + known + ")");
}

std::string to_string(AttentionMode mode)
{
    return mode == AttentionMode::Data ? "data-parallel" : "heads";
}

AttentionMode parse_attention_mode(const std::string& text)
{
    if (text == "heads")
        return AttentionMode::Heads;
    if (text == "data-parallel")
        return AttentionMode::Data;
    throw Error("unknown attention mode '" + text + "' (expected heads or data-parallel)");
}

std::string to_string(LmHeadMode mode)
{
    return mode == LmHeadMode::GatherLogits ? "gather-logits" : "distributed-argmax";
}

LmHeadMode parse_lm_head_mode(const std::string& text)
{
    if (text == "gather-logits")
        return LmHeadMode::GatherLogits;
    if (text == "distributed-argmax")
        return LmHeadMode::DistributedArgmax;
    throw Error("unknown lm_head mode '" + text + "' (expected gather-logits or distributed-argmax)");
}

OrderedJson strategy_to_json(const Strategy& s, int layers)
{
    OrderedJson j;
    j["label"] = s.label();
    j["pp"] = s.pp;
    j["dp"] = s.dp;
    j["tensor"] = {{"mode", to_string(s.tensor_mode)}, {"shape", s.tensor_shape}};
    j["ep"] = s.ep;
    OrderedJson modes;
    modes["embedding"] = s.tensor_size() > 1 ? "vocab-parallel" : "replicated";
    modes["attention"] = to_string(s.attention);
    modes["mlp"] = to_string(s.tensor_mode);
    modes["experts"] = "ep" + std::to_string(s.ep) + " x tp" + std::to_string(s.expert_tp());
    modes["lm_head"] = to_string(s.lm_head);
    j["layer_modes"] = modes;
    OrderedJson mesh = OrderedJson::array();
    for (const auto& axis : s.mesh())
        mesh.push_back({{"axis", axis.name}, {"size", axis.size}});
    j["mesh"] = mesh;
    j["stage_layers"] = s.resolved_stage_layers(layers);
    if (s.placement.empty()) {
        std::vector<int> identity(s.devices());
        std::iota(identity.begin(), identity.end(), 0);
        j["placement"] = identity;
    } else {
        j["placement"] = s.placement;
    }
    return j;
}

Strategy parse_strategy_text(const std::string& text)
{
    Strategy s;
    std::optional<TensorMode> mode;
    std::vector<int> shape;
    std::set<std::string> seen;
    auto number = [](const std::string& key, const std::string& value) {
        std::int64_t n = 0;
        const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (value.empty() || error != std::errc() || end != value.data() + value.size())
            throw Error("strategy: " + key + " must be a whole number, got '" + value + "'");
        return checked_int(n, limits::kMeshAxis, "strategy: " + key);
    };
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string field = trimmed(text.substr(start, end - start));
        start = end + 1;
        if (field.empty())
            continue;
        const std::size_t eq = field.find('=');
        if (eq == std::string::npos)
            throw Error("strategy: '" + field + "' is not key=value (e.g. pp=2,dp=1,tp=4,mode=megatron)");
        const std::string key = trimmed(field.substr(0, eq)), value = trimmed(field.substr(eq + 1));
        if (!seen.insert(key == "shape" ? "tp" : key).second)
            throw Error("strategy: " + key + " is given twice"
                        + (key == "shape" || key == "tp" ? " (tp= and shape= name the same axes)" : ""));
        if (key == "pp")
            s.pp = number(key, value);
        else if (key == "dp")
            s.dp = number(key, value);
        else if (key == "ep")
            s.ep = number(key, value);
        else if (key == "tp")
            shape = {number(key, value)};
        else if (key == "shape") {
            std::size_t from = 0;
            while (from <= value.size()) {
                const std::size_t x = std::min(value.find('x', from), value.size());
                shape.push_back(number("shape", value.substr(from, x - from)));
                from = x + 1;
            }
        } else if (key == "mode")
            mode = parse_tensor_mode(value);
        else if (key == "attention")
            s.attention = parse_attention_mode(value);
        else if (key == "lm-head")
            s.lm_head = parse_lm_head_mode(value);
        else
            throw Error("strategy: unknown field '" + key + "' (pp, dp, tp, shape, mode, ep, attention, lm-head)");
    }
    const bool split = !shape.empty() && (shape.size() > 1 || shape[0] > 1);
    s.tensor_mode = mode.value_or(split ? TensorMode::Megatron1D : TensorMode::None);
    if (s.tensor_mode != TensorMode::None)
        s.tensor_shape = shape.empty() ? std::vector<int>{1} : shape;
    else if (split)
        throw Error("strategy: mode=none keeps every weight on one GPU, but the tensor size is above 1");
    return s;
}

Strategy strategy_from_json(const Json& json, const std::string& context)
{
    const JsonReader r(json, context);
    Strategy s;
    s.pp = r.count_or("pp", 1, limits::kMeshAxis);
    s.dp = r.count_or("dp", 1, limits::kMeshAxis);
    s.ep = r.count_or("ep", 1, limits::kMeshAxis);
    try {
        if (r.has("tensor")) {
            const JsonReader tensor(r.object("tensor"), context + ".tensor");
            s.tensor_mode = parse_tensor_mode(tensor.string_or("mode", "none"));
            s.tensor_shape = tensor.int_list("shape", limits::kMeshAxis);
        }
        if (r.has("layer_modes")) {
            const JsonReader modes(r.object("layer_modes"), context + ".layer_modes");
            s.attention = parse_attention_mode(modes.string_or("attention", "heads"));
            s.lm_head = parse_lm_head_mode(modes.string_or("lm_head", "distributed-argmax"));
        }
    } catch (const Error& e) {
        throw Error(context + ": " + e.what());
    }
    s.stage_layers = r.int_list("stage_layers", limits::kLayers);
    s.placement = r.int_list("placement", limits::kGpuIndex);
    // Identity placement and a balanced split are the defaults: store them as empty so a
    // written and re-read plan compares equal to the one it came from.
    bool identity = true;
    for (std::size_t i = 0; i < s.placement.size(); ++i)
        identity = identity && s.placement[i] == int(i);
    if (identity)
        s.placement.clear();
    return s;
}

std::string Strategy::mesh_text() const
{
    std::string text;
    for (const auto& axis : mesh()) {
        if (axis.size > 1 || axis.name == "tp")
            text += (text.empty() ? "" : " ") + axis.name + "=" + std::to_string(axis.size);
    }
    if (ep > 1)
        text += " ep=" + std::to_string(ep);
    return text.empty() ? "1 GPU" : text;
}

} // namespace shard
