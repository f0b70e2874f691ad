#pragma once

// One fuzz target per reader of untrusted input. FUZZ_TARGET(name) defines libFuzzer's entry
// point around a body that sees the input as std::string_view `name`; shard::Error is the
// reader's answer to bad input and is caught, anything else escapes and is a finding.
#include "core/error.h"
#include "core/json_util.h"
#include "core/model_spec.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shard::fuzz {

// The model the safetensors target reads weights for: every tensor kind, a few KiB in all.
inline ModelSpec fuzz_model()
{
    ModelSpec m;
    m.id = m.name = "fuzz-tiny";
    m.layers = 1;
    m.hidden = 8;
    m.heads = 2;
    m.kv_heads = 1;
    m.head_dim = 4;
    m.ffn = 16;
    m.vocab = 16;
    m.max_context = 32;
    return m;
}

} // namespace shard::fuzz

#define FUZZ_TARGET(name)                                                                                              \
    static void fuzz_body(std::string_view name);                                                                      \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)                                  \
    {                                                                                                                  \
        try {                                                                                                          \
            fuzz_body(std::string_view(reinterpret_cast<const char*>(data), size));                                    \
        } catch (const shard::Error&) {                                                                                \
        }                                                                                                              \
        return 0;                                                                                                      \
    }                                                                                                                  \
    static void fuzz_body(std::string_view name)
