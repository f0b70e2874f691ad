#pragma once

#include "error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace shard {

using Json = nlohmann::json;
// Keeps the key order a file was written in, so saved files read like the input.
using OrderedJson = nlohmann::ordered_json;

// Parses text; on malformed input throws Error naming the source, line and column.
Json parse_json_text(std::string_view text, const std::string& source);
// Reads and parses a file; a missing or unreadable file is an Error naming the path.
Json read_json_file(const std::string& path);
std::string read_text_file(const std::string& path);
// Writes atomically (temporary file + rename) so a crash never leaves half a file.
void write_text_file(const std::string& path, const std::string& text);

// Field access that names the field and the context ("config.json", "model") on failure.
class JsonReader {
public:
    JsonReader(const Json& object, std::string context);

    bool has(const char* key) const;
    std::int64_t positive_int(const char* key) const;
    std::int64_t non_negative_int(const char* key) const;
    std::int64_t int_or(const char* key, std::int64_t fallback) const;
    double positive_number(const char* key) const;
    double number_or(const char* key, double fallback) const;
    double non_negative_number_or(const char* key, double fallback) const;
    bool bool_or(const char* key, bool fallback) const;
    std::string string(const char* key) const;
    std::string string_or(const char* key, const std::string& fallback) const;
    const Json& object(const char* key) const;
    const Json* raw(const char* key) const { return field(key); } // nullptr when absent or null
    const std::string& context() const { return m_context; }
    [[noreturn]] void fail(const char* key, const std::string& what) const;

private:
    const Json* field(const char* key) const; // nullptr when absent or null
    const Json& m_object;
    std::string m_context;
};

} // namespace shard
