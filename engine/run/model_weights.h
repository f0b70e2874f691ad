#pragma once

#include "core/model_spec.h"

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace shard::run {

// A dense fp32 matrix, row-major.
struct Matrix {
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::vector<float> data;

    std::span<const float> row(std::int64_t r) const { return {data.data() + r * cols, std::size_t(cols)}; }
    // Slices of an empty matrix (an absent optional tensor) stay empty.
    Matrix slice_cols(std::int64_t begin, std::int64_t end) const;
    Matrix slice_rows(std::int64_t begin, std::int64_t end) const;
    // The matrix, or null for an absent optional tensor (what the kernels take for "none").
    const Matrix* if_present() const { return data.empty() ? nullptr : this; }
};

// The unsharded weights of a model, generated deterministically from a seed: each tensor's
// values depend only on (seed, tensor name), so every rank slices the same numbers.
// Linear weights are stored as W[K, N] (Y = X W).
class ModelWeights {
public:
    // `size_limit`: refuse models too large for the CPU reference (the CUDA benchmarks
    // generate larger layers).
    ModelWeights(const ModelSpec& model, std::uint64_t seed, bool size_limit = true);

    const ModelSpec& model() const { return m_model; }
    const Matrix& get(const std::string& name) const; // throws Error for an unknown name
    // The tensor, or an empty matrix when the model has none (optional biases and norms).
    Matrix get_or_empty(const std::string& name) const { return has(name) ? get(name) : Matrix{}; }
    bool has(const std::string& name) const { return m_tensors.count(name) > 0; }
    std::int64_t parameter_count() const;
    const std::map<std::string, Matrix>& tensors() const { return m_tensors; }

    static std::string layer(int index, const std::string& name)
    {
        return "layers." + std::to_string(index) + "." + name;
    }
    // Replaces a tensor's values (same shape), for loading from a file.
    void assign(const std::string& name, std::vector<float> values);

private:
    void add(const std::string& name, std::int64_t rows, std::int64_t cols, float scale);
    void add_norm(const std::string& name, std::int64_t width);
    void add_mlp(const std::string& prefix, std::int64_t width);

    ModelSpec m_model;
    std::uint64_t m_seed;
    std::map<std::string, Matrix> m_tensors;
};

// Why the CPU reference cannot run a model, or empty when it can.
std::string reference_unsupported_reason(const ModelSpec& model, bool size_limit = true);

} // namespace shard::run
