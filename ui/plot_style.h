#pragma once

class QCPAxis;
class QCustomPlot;
class QString;

namespace shard::ui {

// Moves the plot's legend out of the axis rect into a row of its own under it, entries side
// by side: dense charts (a Gantt of every op, a run series) keep all their data visible.
void place_legend_below(QCustomPlot* plot);

// A chart's title and legend must never decide the window's width: without this, QCustomPlot
// asks for the width of its longest title line, and a long plan name pushes the window past
// the screen.
void let_layout_shrink(QCustomPlot* plot);

// A title of parts joined by " · ", broken onto two lines at the separator nearest its
// middle when longer than columns characters.
QString wrap_title(const QString& title, int columns = 90);

// A logarithmic axis whose labels stay readable at any range: each power of ten over more
// than five decades, 1 and 3 of each over more than two, 1, 2 and 5 over fewer, every digit when the range spans
// less than a decade, and evenly spaced values when it lies within one digit (where a plain
// log ticker shows one label or none).
void use_readable_log_scale(QCPAxis* axis);

} // namespace shard::ui
