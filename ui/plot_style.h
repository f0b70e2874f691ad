#pragma once

class QCustomPlot;

namespace shard::ui {

// Moves the plot's legend out of the axis rect into a row of its own under it, entries side
// by side: dense charts (a Gantt of every op, a run series) keep all their data visible.
void place_legend_below(QCustomPlot* plot);

} // namespace shard::ui
