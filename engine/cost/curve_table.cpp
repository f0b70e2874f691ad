#include "curve_table.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace shard {

namespace {

std::vector<std::string_view> split(std::string_view line)
{
    std::vector<std::string_view> cells;
    std::size_t start = 0;
    for (std::size_t at = line.find(','); at != std::string_view::npos; at = line.find(',', start)) {
        cells.push_back(line.substr(start, at - start));
        start = at + 1;
    }
    cells.push_back(line.substr(start));
    return cells;
}

[[noreturn]] void fail(const std::string& source, int line, const std::string& what)
{
    throw PerfTableError(source + " line " + std::to_string(line) + ": " + what);
}

double number(std::string_view cell, const std::string& source, int line, const std::string& column)
{
    double value = 0;
    const auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
    if (error != std::errc() || end != cell.data() + cell.size() || !std::isfinite(value))
        fail(source, line, "column " + column + " is not a number: '" + std::string(cell.substr(0, 40)) + "'");
    return value;
}

std::string axis_text(double value)
{
    return value == std::floor(value) && std::abs(value) < 9e15 ? std::to_string(std::int64_t(value))
                                                                : std::to_string(value);
}

} // namespace

CurveTable parse_curve_table(std::string_view text, const std::string& source, std::size_t key_columns)
{
    CurveTable table;
    table.source = source;
    int line_number = 0;
    bool header = true;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++line_number;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty())
            continue;
        const auto cells = split(line);
        if (header) {
            header = false;
            if (cells.size() <= key_columns)
                fail(source, line_number,
                     "the header needs " + std::to_string(key_columns) + " key columns and at least one curve column");
            for (std::size_t c = 0; c < key_columns; ++c)
                table.key_names.emplace_back(cells[c]);
            for (std::size_t c = key_columns; c < cells.size(); ++c) {
                const auto eq = cells[c].find('=');
                if (eq == std::string_view::npos || eq == 0)
                    fail(source, line_number, "curve column '" + std::string(cells[c]) + "' is not <axis>=<value>");
                const std::string axis(cells[c].substr(0, eq));
                if (table.axis.empty())
                    table.axis = axis;
                else if (axis != table.axis)
                    fail(source, line_number, "curve columns mix the axes " + table.axis + " and " + axis);
                const double value = number(cells[c].substr(eq + 1), source, line_number, std::string(cells[c]));
                if (!table.axis_values.empty() && value <= table.axis_values.back())
                    fail(source, line_number, "curve column " + std::string(cells[c]) + " is not in ascending order");
                table.axis_values.push_back(value);
            }
            continue;
        }
        if (cells.size() != key_columns + table.axis_values.size())
            fail(source, line_number,
                 std::to_string(cells.size()) + " cells where the header has "
                     + std::to_string(key_columns + table.axis_values.size()));
        CurveTable::Row row;
        row.line = line_number;
        for (std::size_t c = 0; c < key_columns; ++c) {
            if (cells[c].empty())
                fail(source, line_number, "key column " + table.key_names[c] + " is empty");
            row.keys.emplace_back(cells[c]);
        }
        row.ms.assign(table.axis_values.size(), std::numeric_limits<double>::quiet_NaN());
        for (std::size_t i = 0; i < table.axis_values.size(); ++i) {
            const std::string_view cell = cells[key_columns + i];
            if (cell.empty())
                continue; // not measured
            const double ms = number(cell, source, line_number, table.axis + "=" + axis_text(table.axis_values[i]));
            if (ms <= 0)
                fail(source, line_number, "a latency must be positive, got " + std::string(cell));
            row.ms[i] = ms;
        }
        table.rows.push_back(std::move(row));
    }
    if (header)
        fail(source, 1, "the table is empty");
    return table;
}

std::int64_t CurveTable::integer_key(const Row& row, std::size_t column) const
{
    const std::string& text = row.keys[column];
    std::int64_t value = -1;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 0)
        fail(source, row.line, key_names[column] + " must be a non-negative integer, got '" + text + "'");
    return value;
}

CurveTable read_curve_table(const std::filesystem::path& file, std::size_t key_columns)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw PerfTableError("cannot read the measured table " + file.string());
    std::ostringstream text;
    text << in.rdbuf();
    return parse_curve_table(text.str(), file.string(), key_columns);
}

std::string to_csv(const CurveTable& table)
{
    std::string text;
    for (const auto& key : table.key_names)
        text += key + ",";
    for (std::size_t i = 0; i < table.axis_values.size(); ++i)
        text += table.axis + "=" + axis_text(table.axis_values[i]) + (i + 1 < table.axis_values.size() ? "," : "\n");
    char cell[32];
    for (const auto& row : table.rows) {
        for (const auto& key : row.keys)
            text += key + ",";
        for (std::size_t i = 0; i < row.ms.size(); ++i) {
            if (!std::isnan(row.ms[i])) {
                std::snprintf(cell, sizeof cell, "%.7g", row.ms[i]);
                text += cell;
            }
            text += i + 1 < row.ms.size() ? "," : "\n";
        }
    }
    return text;
}

CurveTable overlay_curve_table(const CurveTable& base, const CurveTable& replacement,
                               const std::vector<std::size_t>& family)
{
    if (base.key_names != replacement.key_names || base.axis != replacement.axis)
        throw PerfTableError(replacement.source + " line 1: its columns differ from " + base.source + "'s");
    auto family_of = [&](const CurveTable::Row& row) {
        std::vector<std::string> key;
        for (const std::size_t c : family)
            key.push_back(row.keys.at(c));
        return key;
    };
    std::set<std::vector<std::string>> replaced;
    for (const auto& row : replacement.rows)
        replaced.insert(family_of(row));
    CurveTable merged;
    merged.source = replacement.source + " over " + base.source;
    merged.key_names = base.key_names;
    merged.axis = base.axis;
    std::set<double> axis(base.axis_values.begin(), base.axis_values.end());
    axis.insert(replacement.axis_values.begin(), replacement.axis_values.end());
    merged.axis_values.assign(axis.begin(), axis.end());
    auto relaid = [&](const CurveTable& from, const CurveTable::Row& row) {
        CurveTable::Row out{row.keys, {}, row.line};
        out.ms.assign(merged.axis_values.size(), std::numeric_limits<double>::quiet_NaN());
        for (std::size_t i = 0; i < row.ms.size(); ++i) {
            const auto at = std::lower_bound(merged.axis_values.begin(), merged.axis_values.end(), from.axis_values[i]);
            out.ms[std::size_t(at - merged.axis_values.begin())] = row.ms[i];
        }
        return out;
    };
    // The replacement's rows first: where a reader keeps the first of two equal keys, it is
    // the replacement's.
    for (const auto& row : replacement.rows)
        merged.rows.push_back(relaid(replacement, row));
    for (const auto& row : base.rows)
        if (!replaced.count(family_of(row)))
            merged.rows.push_back(relaid(base, row));
    return merged;
}

} // namespace shard
