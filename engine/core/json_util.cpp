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

// Refuses nesting past kMaxJsonDepth before nlohmann builds the value, naming where.
void check_depth(std::string_view text, const std::string& source)
{
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth) {
                const auto [line, column] = line_and_column(text, i + 1);
                throw Error(source + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels at line "
                            + std::to_string(line) + ", column " + std::to_string(column));
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
}

template<class JsonType> JsonType parse_text_as(std::string_view text, const std::string& source)
{
    check_depth(text, source);
    try {
        return JsonType::parse(text.begin(), text.end());
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
    } catch (const Json::exception& e) {
        // A number too large for a double ("1e400") is an out_of_range without a position:
        // find the token it names so the user still gets a line and column.
        std::string detail = e.what();
        if (const auto pos = detail.find("] "); pos != std::string::npos)
            detail = detail.substr(pos + 2);
        std::ostringstream message;
        message << source << ": malformed JSON";
        const auto open = detail.find('\'');
        const auto close = detail.rfind('\'');
        if (open != std::string::npos && close > open + 1) {
            if (const auto at = text.find(detail.substr(open + 1, close - open - 1)); at != std::string_view::npos) {
                const auto [line, column] = line_and_column(text, at + 1);
                message << " at line " << line << ", column " << column;
            }
        }
        message << ": " << detail;
        throw Error(message.str());
    }
}

} // namespace

Json parse_json_text(std::string_view text, const std::string& source)
{
    return parse_text_as<Json>(text, source);
}

OrderedJson parse_ordered_json_text(std::string_view text, const std::string& source)
{
    return parse_text_as<OrderedJson>(text, source);
}

std::string dump_json(const OrderedJson& value, int indent)
{
    return value.dump(indent, ' ', false, nlohmann::detail::error_handler_t::replace);
}

std::string dump_json(const Json& value, int indent)
{
    return value.dump(indent, ' ', false, nlohmann::detail::error_handler_t::replace);
}

namespace {

std::string excerpt_of(const std::string& text)
{
    constexpr std::size_t kLongest = 80;
    return text.size() <= kLongest ? text : text.substr(0, kLongest) + "...";
}

} // namespace

std::string json_excerpt(const Json& value)
{
    return excerpt_of(dump_json(value));
}

std::string json_excerpt(const OrderedJson& value)
{
    return excerpt_of(dump_json(value));
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

namespace {

// Where a write to path lands: the file a chain of symbolic links ends at (so a link to a
// shared file stays a link), or path itself.
std::filesystem::path write_target(const std::filesystem::path& path)
{
    std::filesystem::path target = path;
    std::error_code ec;
    for (int hops = 0; std::filesystem::is_symlink(target, ec); ++hops) {
        if (hops == 40)
            throw Error(path.string() + ": too many levels of symbolic links");
        const std::filesystem::path next = std::filesystem::read_symlink(target, ec);
        if (ec)
            throw Error(path.string() + ": cannot follow the symbolic link: " + ec.message());
        target = next.is_absolute() ? next : target.parent_path() / next;
    }
    return target;
}

void write_stream(const std::string& name, const std::filesystem::path& file, const std::string& text,
                  std::ios::openmode mode)
{
    std::ofstream out(file, std::ios::binary | mode);
    if (!out)
        throw Error(name + ": cannot be opened for writing");
    out << text;
    out.flush();
    if (!out)
        throw Error(name + ": write failed (disk full?)");
}

} // namespace

void write_text_file(const std::string& path, const std::string& text)
{
    const std::filesystem::path target = write_target(path);
    std::error_code ec;
    const auto status = std::filesystem::status(target, ec);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
        // A pipe or a character device (/dev/stdout, a FIFO a reader waits on) is written
        // through; anything else is refused rather than replaced by a regular file.
        if (std::filesystem::is_fifo(status) || std::filesystem::is_character_file(status)) {
            write_stream(path, target, text, std::ios::out);
            return;
        }
        throw Error(path + (std::filesystem::is_directory(status) ? ": is a directory" : ": is not a regular file")
                    + "; refusing to replace it");
    }
    // Atomic (temporary file + rename) so a crash never leaves half a file.
    const std::filesystem::path temporary = target.string() + ".tmp";
    try {
        write_stream(path, temporary, text, std::ios::trunc);
    } catch (const Error&) {
        std::filesystem::remove(temporary, ec);
        throw;
    }
    std::filesystem::rename(temporary, target, ec);
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

std::int64_t JsonReader::integer_value(const char* key, const Json& value, IntRange range) const
{
    std::int64_t v = 0;
    if (value.is_number_unsigned()) {
        const auto u = value.get<std::uint64_t>();
        if (u > std::uint64_t(range.max))
            fail(key, "must be at most " + std::to_string(range.max) + ", got " + std::to_string(u));
        v = std::int64_t(u);
    } else if (value.is_number_integer()) {
        v = value.get<std::int64_t>();
    } else if (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>()
               && std::abs(value.get<double>()) < 9.0e15) {
        v = static_cast<std::int64_t>(value.get<double>()); // 4096.0: whole, and exact in a double
    } else {
        fail(key, "must be a non-negative integer, got " + type_name(value) + " " + json_excerpt(value));
    }
    if (const std::string problem = range_problem(v, range); !problem.empty())
        fail(key, problem);
    return v;
}

std::int64_t JsonReader::integer(const char* key, IntRange range) const
{
    const Json* value = field(key);
    if (!value)
        throw Error(m_context + ": missing required field '" + key + "'");
    return integer_value(key, *value, range);
}

std::int64_t JsonReader::integer_or(const char* key, std::int64_t fallback, IntRange range) const
{
    const Json* value = field(key);
    if (!value) {
        if (const std::string problem = range_problem(fallback, range); !problem.empty())
            fail(key, "is absent and its default " + problem);
        return fallback;
    }
    return integer_value(key, *value, range);
}

int JsonReader::narrow(const char* key, std::int64_t value) const
{
    if (value < INT32_MIN || value > INT32_MAX)
        fail(key, "does not fit a 32-bit integer, got " + std::to_string(value));
    return static_cast<int>(value);
}

std::vector<int> JsonReader::int_list(const char* key, IntRange range) const
{
    std::vector<int> values;
    const Json* list = field(key);
    if (!list)
        return values;
    if (!list->is_array())
        fail(key, "must be a list of integers, got " + json_excerpt(*list));
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string item = std::string(key) + "[" + std::to_string(i) + "]";
        values.push_back(narrow(item.c_str(), integer_value(item.c_str(), (*list)[i], range)));
    }
    return values;
}

double JsonReader::positive_number(const char* key) const
{
    const Json* value = field(key);
    if (!value)
        throw Error(m_context + ": missing required field '" + key + "'");
    if (!value->is_number())
        fail(key, "must be a number, got " + type_name(*value) + " " + json_excerpt(*value));
    const double v = value->get<double>();
    if (!(v > 0) || !std::isfinite(v))
        fail(key, "must be a positive number, got " + json_excerpt(*value));
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
        fail(key, "must be a non-negative number, got " + json_excerpt(*value));
    return value->get<double>();
}

bool JsonReader::bool_or(const char* key, bool fallback) const
{
    const Json* value = field(key);
    if (!value)
        return fallback;
    if (!value->is_boolean())
        fail(key, "must be true or false, got " + json_excerpt(*value));
    return value->get<bool>();
}

std::string JsonReader::string(const char* key) const
{
    const Json* value = field(key);
    if (!value)
        throw Error(m_context + ": missing required field '" + key + "'");
    if (!value->is_string())
        fail(key, "must be a string, got " + type_name(*value) + " " + json_excerpt(*value));
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
