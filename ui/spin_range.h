#pragma once

#include "core/checked_number.h"

#include <QSpinBox>

namespace shard::ui {

// A field takes what the engine's readers accept for that quantity, no more.
inline void setRange(QSpinBox* box, IntRange range)
{
    box->setRange(static_cast<int>(range.min), static_cast<int>(range.max));
}

} // namespace shard::ui
