#include "safetensors.h"

#include "core/error.h"
#include "core/json_util.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

namespace shard::run {

namespace {

float half_to_float(std::uint16_t h)
{
    const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1f;
    std::uint32_t mantissa = h & 0x3ff;
    std::uint32_t bits = 0;
    if (exponent == 0) {
        if (mantissa != 0) { // subnormal: normalise
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400) == 0) {
                mantissa <<= 1;
                --exponent;
            }
            mantissa &= 0x3ff;
            bits = sign | (exponent << 23) | (mantissa << 13);
        } else {
            bits = sign;
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float bf16_to_float(std::uint16_t b)
{
    const std::uint32_t bits = std::uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

} // namespace

void save_safetensors(const ModelWeights& weights, const std::string& path)
{
    OrderedJson header;
    header["__metadata__"] = {{"format", "pt"}, {"producer", "shardstudio"}, {"model", weights.model().id}};
    std::uint64_t offset = 0;
    for (const auto& [name, m] : weights.tensors()) {
        const std::uint64_t bytes = m.data.size() * 4;
        header[name] = {{"dtype", "F32"}, {"shape", {m.rows, m.cols}}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' '); // keep the data 8-byte aligned
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw Error(path + ": cannot be opened for writing");
    const std::uint64_t size = text.size();
    out.write(reinterpret_cast<const char*>(&size), 8); // x86-64 and aarch64: little endian
    out.write(text.data(), std::streamsize(text.size()));
    for (const auto& [name, m] : weights.tensors())
        out.write(reinterpret_cast<const char*>(m.data.data()), std::streamsize(m.data.size() * 4));
    if (!out)
        throw Error(path + ": write failed");
}

ModelWeights load_safetensors(const ModelSpec& model, const std::string& path)
{
    return parse_safetensors(model, read_text_file(path), path);
}

ModelWeights parse_safetensors(const ModelSpec& model, std::string_view file, const std::string& path)
{
    if (file.size() < 8)
        throw Error(path + ": not a safetensors file (shorter than its 8-byte header size)");
    std::uint64_t header_size = 0;
    std::memcpy(&header_size, file.data(), 8);
    if (header_size > file.size() - 8)
        throw Error(path + ": header size " + std::to_string(header_size) + " runs past the end of the "
                    + std::to_string(file.size()) + "-byte file (truncated?)");
    const Json header = parse_json_text(file.substr(8, header_size), path + " header");
    if (!header.is_object())
        throw Error(path + ": the header is not a JSON object");
    const std::size_t data_start = 8 + header_size;
    ModelWeights weights(model, 0); // names and shapes; values replaced below
    const std::uint64_t data_bytes = file.size() - data_start;
    for (const auto& [name, expected] : weights.tensors()) {
        const auto it = header.find(name);
        if (it == header.end())
            throw Error(path + ": tensor '" + name + "' is missing (" + model.name + " needs it)");
        const std::string where = path + ": tensor '" + name + "'";
        const JsonReader r(*it, where);
        const std::string dtype = r.string("dtype");
        const Json* offsets = r.raw("data_offsets");
        if (!offsets || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned()
            || !(*offsets)[1].is_number_unsigned())
            throw Error(where + " needs 'data_offsets' of two non-negative integers");
        // The shape must be the layout's own, axis by axis: the same element count in another
        // shape (transposed, flattened) would load the right bytes into the wrong places.
        // A vector may also be stored 1-D, as PyTorch writes norms and biases.
        if (!r.raw("shape"))
            throw Error(where + " needs a 'shape'");
        const std::vector<int> shape = r.int_list("shape", {0, std::numeric_limits<int>::max()});
        const bool same_shape = shape == std::vector<int>{int(expected.rows), int(expected.cols)}
                                || (expected.rows == 1 && shape == std::vector<int>{int(expected.cols)});
        if (!same_shape)
            throw Error(where + " has shape " + json_excerpt(*r.raw("shape")) + ", " + model.name + " needs ["
                        + std::to_string(expected.rows) + ", " + std::to_string(expected.cols) + "]");
        const std::int64_t elements = expected.rows * expected.cols;
        const int width = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16") ? 2 : 0;
        if (width == 0)
            throw Error(where + " has dtype " + dtype + " (expected F32, F16 or BF16)");
        // Compared by subtraction, never by adding to an offset: an offset near 2^64 must not
        // wrap round into range.
        const auto begin = (*offsets)[0].get<std::uint64_t>();
        const auto end = (*offsets)[1].get<std::uint64_t>();
        if (end < begin || end > data_bytes || end - begin != std::uint64_t(elements) * width)
            throw Error(where + " data [" + std::to_string(begin) + ", " + std::to_string(end)
                        + ") does not fit its shape or the file (truncated?): the file holds "
                        + std::to_string(data_bytes) + " data bytes");
        std::vector<float> values(static_cast<std::size_t>(elements));
        const char* src = file.data() + data_start + begin;
        for (std::int64_t i = 0; i < elements; ++i) {
            if (width == 4) {
                std::memcpy(&values[i], src + i * 4, 4);
            } else {
                std::uint16_t v;
                std::memcpy(&v, src + i * 2, 2);
                values[i] = dtype == "F16" ? half_to_float(v) : bf16_to_float(v);
            }
            if (!std::isfinite(values[i]))
                throw Error(where + " holds " + (std::isnan(values[i]) ? "NaN" : "an infinity") + " at element "
                            + std::to_string(i) + " (row " + std::to_string(i / expected.cols) + ", column "
                            + std::to_string(i % expected.cols) + "): a run of it would check nothing");
        }
        weights.assign(name, std::move(values));
    }
    return weights;
}

} // namespace shard::run
