#pragma once

#include <stdexcept>
#include <string>

namespace shard {

// Every user-facing failure in the engine is an Error whose message names the problem
// (file, field, value) so the CLI and the GUI can show it verbatim.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace shard
