#include "json_util.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace shard {

namespace {

// nlohmann reports a byte offset; users want the line and column their editor shows.
std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t offset)
{
    std::size_t line = 1;
    std::size_t column = 1;
    const std::size_t end = std::min(offset > 0 ? offset - 1 : 0, text.size());
    for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

std::string type_name(const Json& value)
{
    return value.is_null() ? "null" : std::string(value.type_name());
}

} // namespace

Json parse_json_text(std::string_view text, const std::string& source)
{
    try {
        return Json::parse(text.begin(), text.end());
    } catch (const Json::parse_error& e) {
        const auto [line, column] = line_and_column(text, e.byte);
        std::string detail = e.what();
        // Drop nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: "
        if (const auto pos = detail.find(": "); pos != std::string::npos)
            detail = detail.substr(pos + 2);
        if (const auto pos = detail.find("syntax error while parsing value - "); pos != std::string::npos)
            detail = detail.substr(pos + 35);
        std::ostringstream message;
        message << source << ": malformed JSON at line " << line << ", column " << column << ": " << detail;
        throw Error(message.str());
    }
}

std::string read_text_file(const std::string& path)
{
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        throw Error(path + ": no such file");
    if (std::filesystem::is_directory(path, ec))
        throw Error(path + ": is a directory, expected a file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(path + ": cannot be opened for reading");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

Json read_json_file(const std::string& path)
{
    return parse_json_text(read_text_file(path), path);
}

void write_text_file(const std::string& path, const std::string& text)
{
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out)
            throw Error(path + ": cannot be opened for writing");
        out << text;
        out.flush();
        if (!out)
            throw Error(path + ": write failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(temporary, path, ec);
    if (ec) {
        std::filesystem::remove(temporary, ec);
        throw Error(path + ": cannot be replaced: " + ec.message());
    }
}

JsonReader::JsonReader(const Json& object, std::string context)
    : m_object(object)
    , m_context(std::move(context))
{
    if (!m_object.is_object())
        throw Error(m_context + ": expected a JSON object, got " + type_name(m_object));
}

const Json* JsonReader::field(const char* key) const
{
    const auto it = m_object.find(key);
    if (it == m_object.end() || it->is_null())
        return nullptr;
    return &*it;
}

void JsonReader::fail(const char* key, const std::string& what) const
{
    throw Error(m_context + ": field '" + key + "' " + what);
}

bool JsonReader::has(const char* key) const
{
    return field(key) != nullptr;
}

std::int64_t JsonReader::non_negative_int(const char* key) const
{
    const Json* value = field(key);
    if (!value)
        throw Error(m_context + ": missing required field '" + key + "'");
    if (value->is_number_unsigned())
        return value->get<std::int64_t>();
    if (value->is_number_integer()) {
        const auto v = value->get<std::int64_t>();
        if (v < 0)
            fail(key, "must not be negative, got " + std::to_string(v));
        return v;
    }
    if (value->is_number_float()) {
        const double v = value->get<double>();
        if (v >= 0 && std::floor(v) == v && v < 9.0e15)
            return static_cast<std::int64_t>(v);
    }
    fail(key, "must be a non-negative integer, got " + type_name(*value) + " " + value->dump());
}

std::int64_t JsonReader::positive_int(const char* key) const
{
    const auto v = non_negative_int(key);
    if (v == 0)
        fail(key, "must be positive, got 0");
    return v;
}

std::int64_t JsonReader::int_or(const char* key, std::int64_t fallback) const
{
    return has(key) ? non_negative_int(key) : fallback;
}

double JsonReader::positive_number(const char* key) const
{
    const Json* value = field(key);
    if (!value)
        throw Error(m_context + ": missing required field '" + key + "'");
    if (!value->is_number())
        fail(key, "must be a number, got " + type_name(*value) + " " + value->dump());
    const double v = value->get<double>();
    if (!(v > 0) || !std::isfinite(v))
        fail(key, "must be a positive number, got " + value->dump());
    return v;
}

double JsonReader::number_or(const char* key, double fallback) const
{
    return has(key) ? positive_number(key) : fallback;
}

double JsonReader::non_negative_number_or(const char* key, double fallback) const
{
    const Json* value = field(key);
    if (!value)
        return fallback;
    if (!value->is_number() || !(value->get<double>() >= 0) || !std::isfinite(value->get<double>()))
        fail(key, "must be a non-negative number, got " + value->dump());
    return value->get<double>();
}

bool JsonReader::bool_or(const char* key, bool fallback) const
{
    const Json* value = field(key);
    if (!value)
        return fallback;
    if (!value->is_boolean())
        fail(key, "must be true or false, got " + value->dump());
    return value->get<bool>();
}

std::string JsonReader::string(const char* key) const
{
    const Json* value = field(key);
    if (!value)
        throw Error(m_context + ": missing required field '" + key + "'");
    if (!value->is_string())
        fail(key, "must be a string, got " + type_name(*value) + " " + value->dump());
    return value->get<std::string>();
}

std::string JsonReader::string_or(const char* key, const std::string& fallback) const
{
    return has(key) ? string(key) : fallback;
}

const Json& JsonReader::object(const char* key) const
{
    const Json* value = field(key);
    if (!value)
        throw Error(m_context + ": missing required field '" + key + "'");
    if (!value->is_object())
        fail(key, "must be an object, got " + type_name(*value));
    return *value;
}

} // namespace shard
