#include "cli_output.h"

#include "core/units.h"

#include <algorithm>
#include <iostream>
#include <sstream>

namespace shard::cli {

TextTable::TextTable(std::vector<std::string> headers, std::vector<Align> align)
    : m_headers(std::move(headers))
    , m_align(std::move(align))
{
    m_align.resize(m_headers.size(), Align::Left);
}

void TextTable::add_row(std::vector<std::string> cells)
{
    cells.resize(m_headers.size());
    m_rows.push_back(std::move(cells));
}

std::string TextTable::render() const
{
    std::vector<std::size_t> width(m_headers.size());
    for (std::size_t c = 0; c < m_headers.size(); ++c) {
        width[c] = m_headers[c].size();
        for (const auto& row : m_rows)
            width[c] = std::max(width[c], row[c].size());
    }
    std::ostringstream out;
    auto line = [&](const std::vector<std::string>& cells) {
        std::string text;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const std::string pad(width[c] - cells[c].size(), ' ');
            text += (c ? "  " : "") + (m_align[c] == Align::Right ? pad + cells[c] : cells[c] + pad);
        }
        while (!text.empty() && text.back() == ' ')
            text.pop_back();
        out << text << '\n';
    };
    line(m_headers);
    std::vector<std::string> rule;
    for (const auto w : width)
        rule.push_back(std::string(w, '-'));
    line(rule);
    for (const auto& row : m_rows)
        line(row);
    return out.str();
}

void print_json(const OrderedJson& json)
{
    std::cout << dump_json(json, 2) << std::endl;
}

std::string format_ms(double value)
{
    return value >= 100 ? format_fixed(value, 1) : value >= 1 ? format_fixed(value, 2) : format_fixed(value, 3);
}

} // namespace shard::cli
