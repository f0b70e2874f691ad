#pragma once

#include "json_util.h"

#include <string>
#include <vector>

namespace shard {

// How the dense linear layers are split over the tensor axes of the mesh.
enum class TensorMode {
    None, // one device holds every weight of its stage
    Column1D, // every linear column-parallel, AllGather of each output
    Row1D, // every linear row-parallel, AllReduce of each output
    Megatron1D, // column then row: 2 AllReduces per layer
    MegatronSP, // Megatron with sequence parallelism: ReduceScatter + AllGather
    Summa2D, // Optimus / SUMMA on a q x q grid
    WeightStationary2D, // Pope et al. 2022 on a q1 x q2 grid
    Tesseract25D, // q x q x d
    Cube3D, // q x q x q
};

enum class AttentionMode {
    Heads, // attention heads follow the tensor split (head parallel, KV heads replicated if needed)
    Data, // attention data parallel: batch sharded over the tensor group, weights replicated
};

enum class LmHeadMode {
    GatherLogits, // AllGather of M x V logits
    DistributedArgmax, // each device reduces its vocab slice, then a tiny exchange
};

struct MeshAxis {
    std::string name;
    int size = 1;
    bool operator==(const MeshAxis&) const = default;
};

// The strategy of one plan. Devices form a mesh [pp, dp, tensor axes...] laid out
// row-major, so the innermost (tensor) axes land on consecutive GPUs of one node.
struct Strategy {
    int pp = 1; // pipeline stages
    int dp = 1; // model replicas; the batch is split over them
    TensorMode tensor_mode = TensorMode::None;
    std::vector<int> tensor_shape; // {t} 1D, {q1, q2} 2D, {q, q, d} 2.5D, {q, q, q} 3D
    AttentionMode attention = AttentionMode::Heads;
    int ep = 1; // expert-parallel degree over the dp x tensor devices of a stage
    LmHeadMode lm_head = LmHeadMode::DistributedArgmax;
    std::vector<int> stage_layers; // layers per pipeline stage; empty means balanced
    std::vector<int> placement; // GPU index of each mesh position; empty means identity

    bool operator==(const Strategy&) const = default;

    int tensor_size() const;
    int devices() const { return pp * dp * tensor_size(); }
    // Expert tensor parallelism: the dp x tensor devices of a stage form ep x expert_tp.
    int expert_tp() const { return dp * tensor_size() / ep; }
    std::vector<MeshAxis> mesh() const;
    std::vector<int> resolved_stage_layers(int layers) const;
    int gpu_of(int mesh_position) const;
    std::string label() const; // "TP8 Megatron", "PP2 x TP4 Megatron", "2D SUMMA 2x2"
    std::string mesh_text() const; // "pp=2 tp=4 ep=2", "1 GPU"
    // Structural checks only (shape matches mode, sizes positive, placement a permutation).
    void validate(int layers, int available_gpus) const;
};

std::string to_string(TensorMode mode);
std::string to_string(AttentionMode mode);
std::string to_string(LmHeadMode mode);
TensorMode parse_tensor_mode(const std::string& text);
AttentionMode parse_attention_mode(const std::string& text);
LmHeadMode parse_lm_head_mode(const std::string& text);
// Number of tensor axes a mode uses (0 for None).
int tensor_rank(TensorMode mode);
std::vector<std::string> tensor_axis_names(TensorMode mode);

// Balanced split of layers over stages: the first (layers % stages) stages get one more.
std::vector<int> balanced_stage_split(int layers, int stages);

// The strategy a user names on a command line: comma-separated key=value fields, "pp=2,dp=1,
// tp=4,mode=megatron", with tp= the size of a 1D split or shape= the grid of any mode ("2x4",
// "2x2x2"), ep=, attention=heads|data-parallel, lm-head=gather-logits|distributed-argmax.
// mode defaults to megatron when the tensor size is above 1. Errors name the field; the
// structural checks are Strategy::validate's.
Strategy parse_strategy_text(const std::string& text);
OrderedJson strategy_to_json(const Strategy& strategy, int layers);
Strategy strategy_from_json(const Json& json, const std::string& context);

} // namespace shard
