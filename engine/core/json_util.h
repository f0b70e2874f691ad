#pragma once

#include "checked_number.h"
#include "error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shard {

using Json = nlohmann::json;
// Keeps the key order a file was written in, so saved files read like the input.
using OrderedJson = nlohmann::ordered_json;

// Deeper nesting than this is refused at parse: no file the tool reads nests past a handful
// of levels, and printing or copying a value recurses once per level.
inline constexpr int kMaxJsonDepth = 64;

// Parses text; on malformed input (bad syntax, a number out of range, nesting deeper than
// kMaxJsonDepth) throws Error naming the source, line and column.
Json parse_json_text(std::string_view text, const std::string& source);
// The same, keeping the keys of every object in the order the text gives them.
OrderedJson parse_ordered_json_text(std::string_view text, const std::string& source);
// Serialises for output. Text that is not valid UTF-8 (a file name from the command line,
// say) is written with U+FFFD in its place instead of failing the whole line.
std::string dump_json(const OrderedJson& value, int indent = -1);
std::string dump_json(const Json& value, int indent = -1);
// A value as an error message quotes it: its JSON, cut short when long.
std::string json_excerpt(const Json& value);
std::string json_excerpt(const OrderedJson& value);
// Reads and parses a file; a missing or unreadable file is an Error naming the path.
Json read_json_file(const std::string& path);
std::string read_text_file(const std::string& path);
// Writes atomically (temporary file + rename) so a crash never leaves half a file. A symbolic
// link is followed (the file it names is replaced, the link kept); a FIFO or character device
// is written through; a directory or other special file is refused.
void write_text_file(const std::string& path, const std::string& text);

// Field access that names the field and the context ("config.json", "model") on failure.
class JsonReader {
public:
    JsonReader(const Json& object, std::string context);

    bool has(const char* key) const;
    // An integer inside range (limits:: in checked_number.h); errors name the field.
    std::int64_t integer(const char* key, IntRange range) const;
    std::int64_t integer_or(const char* key, std::int64_t fallback, IntRange range) const;
    int count(const char* key, IntRange range) const { return narrow(key, integer(key, range)); }
    int count_or(const char* key, std::int64_t fallback, IntRange range) const
    {
        return narrow(key, integer_or(key, fallback, range));
    }
    // A list of integers, each inside range; empty when absent.
    std::vector<int> int_list(const char* key, IntRange range) const;
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
    std::int64_t integer_value(const char* key, const Json& value, IntRange range) const;
    int narrow(const char* key, std::int64_t value) const;
    const Json& m_object;
    std::string m_context;
};

} // namespace shard
