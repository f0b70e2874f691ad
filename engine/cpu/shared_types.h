#pragma once

// The CPU reference executor works on the run types every backend shares (engine/run); it
// names them as its own so that its code reads as the executor it is.
#include "run/grid_layout.h"
#include "run/model_weights.h"
#include "run/routing.h"
#include "run/run_result.h"

namespace shard::cpu {

using run::Cancelled;
using run::grid_axes;
using run::grid_group_of;
using run::grid_index_in_group;
using run::grid_layer_shard;
using run::GridAxis;
using run::GridLayerShard;
using run::GridLayout;
using run::Matrix;
using run::ModelWeights;
using run::prompt_tokens;
using run::reference_unsupported_reason;
using run::route_tokens;
using run::Routing;
using run::RunResult;
using run::StepOutput;

} // namespace shard::cpu
