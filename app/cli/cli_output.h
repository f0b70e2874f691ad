#pragma once

#include "core/json_util.h"

#include <string>
#include <vector>

namespace shard::cli {

// Options every command sees (CLI11 lets them stand before or after the subcommand).
struct GlobalOptions {
    bool json = false;
};

// A plain-text table with aligned columns, as `nvidia-smi`-style CLIs print them.
class TextTable {
public:
    enum class Align { Left, Right };
    explicit TextTable(std::vector<std::string> headers, std::vector<Align> align = {});
    void add_row(std::vector<std::string> cells);
    std::string render() const;

private:
    std::vector<std::string> m_headers;
    std::vector<Align> m_align;
    std::vector<std::vector<std::string>> m_rows;
};

void print_json(const OrderedJson& json);
// Milliseconds with the digits that matter at their size: 123.4, 12.34, 0.123.
std::string format_ms(double value);

} // namespace shard::cli
