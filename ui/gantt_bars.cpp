#include "gantt_bars.h"

#include <algorithm>

namespace shard::ui {

GanttBars::GanttBars(QCPAxis* time_axis, QCPAxis* row_axis)
    : QCPAbstractPlottable(time_axis, row_axis)
{
    setSelectable(QCP::stNone);
}

void GanttBars::setBars(std::vector<Bar> bars)
{
    m_bars = std::move(bars);
}

void GanttBars::setThickness(double fraction, double offset)
{
    m_thickness = fraction;
    m_offset = offset;
}

QRectF GanttBars::pixelRect(const Bar& bar) const
{
    const double x0 = mKeyAxis->coordToPixel(bar.start);
    double x1 = mKeyAxis->coordToPixel(bar.start + bar.duration);
    // A span shorter than a pixel still shows: a 2 us norm in a 20 ms step is real work.
    if (std::abs(x1 - x0) < 1.0)
        x1 = x0 + (x1 >= x0 ? 1.0 : -1.0);
    const double y0 = mValueAxis->coordToPixel(bar.row + m_offset - m_thickness / 2);
    const double y1 = mValueAxis->coordToPixel(bar.row + m_offset + m_thickness / 2);
    return QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized();
}

void GanttBars::draw(QCPPainter* painter)
{
    if (!mKeyAxis || !mValueAxis)
        return;
    const QRectF clip = clipRect();
    const QPen outline(mPen.color(), 1);
    painter->setBrush(mBrush);
    for (const Bar& bar : m_bars) {
        const QRectF r = pixelRect(bar);
        if (!r.intersects(clip))
            continue;
        // Outlines only where a bar is wide enough to carry one; otherwise the pen's colour
        // would swallow the fill.
        painter->setPen(r.width() >= 4 ? outline : Qt::NoPen);
        painter->drawRect(r);
    }
}

void GanttBars::drawLegendIcon(QCPPainter* painter, const QRectF& rect) const
{
    painter->setPen(mPen);
    painter->setBrush(mBrush);
    painter->drawRect(rect.adjusted(1, 3, -1, -3));
}

const GanttBars::Bar* GanttBars::barAt(const QPointF& pixel) const
{
    for (const Bar& bar : m_bars)
        if (pixelRect(bar).adjusted(-1, 0, 1, 0).contains(pixel))
            return &bar;
    return nullptr;
}

double GanttBars::selectTest(const QPointF& pos, bool onlySelectable, QVariant*) const
{
    if (onlySelectable && !mSelectable)
        return -1;
    return barAt(pos) ? 0 : -1;
}

QCPRange GanttBars::getKeyRange(bool& foundRange, QCP::SignDomain) const
{
    foundRange = !m_bars.empty();
    QCPRange range(0, 0);
    for (const Bar& bar : m_bars)
        range.upper = std::max(range.upper, bar.start + bar.duration);
    return range;
}

QCPRange GanttBars::getValueRange(bool& foundRange, QCP::SignDomain, const QCPRange&) const
{
    foundRange = !m_bars.empty();
    QCPRange range(0, 0);
    for (const Bar& bar : m_bars)
        range.upper = std::max(range.upper, double(bar.row));
    range.lower -= 0.5;
    range.upper += 0.5;
    return range;
}

} // namespace shard::ui
