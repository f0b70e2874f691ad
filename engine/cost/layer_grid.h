#pragma once

#include "step_builder.h"

namespace shard {

// The 2D / 2.5D / 3D recipes (SUMMA, weight-stationary, Tesseract, cube), dense layers only.
void grid_dense_layer(const StepBuilder& builder, BlockCost& block, const StepShape& step);
// Ways the hidden dimension of the activations is split in a layout.
int grid_hidden_parts(const Strategy& strategy);
// Elements of the hidden-state activation one device holds between layers.
std::int64_t hidden_shard_elements(const StepBuilder& builder, const StepShape& step);

} // namespace shard
