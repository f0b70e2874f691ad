#pragma once

// Typed element access for the host model of CUDA: the engine's buffers hold fp32, fp16 or
// bf16 elements; the host loops compute in fp32 and round each stored value to the
// buffer's type (to nearest, ties to even), as the engine's kernels and cuBLAS do. An
// offset or a stride counted for the wrong element size reads the wrong values here, as
// it would on a GPU.
#include "gpu_dtype.h"

#include <cstdint>
#include <cstring>

namespace shard::cuda::host {

float bf16_to_float(std::uint16_t bits);
std::uint16_t float_to_bf16(float value);
float fp16_to_float(std::uint16_t bits);
std::uint16_t float_to_fp16(float value);

inline float load(GpuDType type, const void* base, std::int64_t i)
{
    switch (type) {
    case GpuDType::F32:
        return static_cast<const float*>(base)[i];
    case GpuDType::F16:
        return fp16_to_float(static_cast<const std::uint16_t*>(base)[i]);
    case GpuDType::BF16:
        return bf16_to_float(static_cast<const std::uint16_t*>(base)[i]);
    }
    return 0.0f;
}

inline void store(GpuDType type, void* base, std::int64_t i, float value)
{
    switch (type) {
    case GpuDType::F32:
        static_cast<float*>(base)[i] = value;
        return;
    case GpuDType::F16:
        static_cast<std::uint16_t*>(base)[i] = float_to_fp16(value);
        return;
    case GpuDType::BF16:
        static_cast<std::uint16_t*>(base)[i] = float_to_bf16(value);
        return;
    }
}

// Copies n elements (memmove: the ranges may overlap).
inline void copy(GpuDType type, void* dst, std::int64_t dst_index, const void* src, std::int64_t src_index,
                 std::int64_t n)
{
    const auto size = std::int64_t(element_size(type));
    std::memmove(static_cast<char*>(dst) + dst_index * size, static_cast<const char*>(src) + src_index * size,
                 std::size_t(n * size));
}

// A read-only view of a buffer of `type`: v[i] is element i as fp32.
class Values {
public:
    Values(GpuDType type, const void* base)
        : m_type(type)
        , m_base(base)
    { }
    float operator[](std::int64_t i) const { return load(m_type, m_base, i); }
    Values operator+(std::int64_t offset) const
    {
        return {m_type, static_cast<const char*>(m_base) + offset * std::int64_t(element_size(m_type))};
    }

private:
    GpuDType m_type;
    const void* m_base;
};

// A writable view: e[i] reads as fp32 and stores rounded to the buffer's type.
class Elements {
public:
    class Ref {
    public:
        Ref(GpuDType type, void* base, std::int64_t i)
            : m_type(type)
            , m_base(base)
            , m_i(i)
        { }
        Ref(const Ref&) = default;
        operator float() const { return load(m_type, m_base, m_i); }
        Ref& operator=(float value)
        {
            store(m_type, m_base, m_i, value);
            return *this;
        }
        Ref& operator=(const Ref& other) { return *this = float(other); }
        Ref& operator+=(float value) { return *this = float(*this) + value; }
        Ref& operator*=(float value) { return *this = float(*this) * value; }

    private:
        GpuDType m_type;
        void* m_base;
        std::int64_t m_i;
    };

    Elements(GpuDType type, void* base)
        : m_type(type)
        , m_base(base)
    { }
    Ref operator[](std::int64_t i) const { return {m_type, m_base, i}; }
    Elements operator+(std::int64_t offset) const
    {
        return {m_type, static_cast<char*>(m_base) + offset * std::int64_t(element_size(m_type))};
    }

private:
    GpuDType m_type;
    void* m_base;
};

} // namespace shard::cuda::host
