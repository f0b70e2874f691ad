#pragma once

// Small helpers shared by the Qt Test suites.
#include "core/error.h"

#include <QString>

#include <functional>

namespace shard::test {

// The message of the shard::Error `action` throws, or an empty string when it throws none.
inline QString errorOf(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        return QString::fromUtf8(e.what());
    }
    return QString();
}

} // namespace shard::test
