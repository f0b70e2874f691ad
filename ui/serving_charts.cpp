#include "serving_charts.h"

#include "chart_export.h"
#include "plot_hover.h"
#include "plot_style.h"

#include <qcustomplot.h>

#include <algorithm>

namespace shard::ui {

namespace {

QCustomPlot* new_plot(QWidget* parent, const QString& name)
{
    auto* plot = new QCustomPlot(parent);
    plot->setObjectName(name);
    let_layout_shrink(plot);
    plot->legend->setVisible(true);
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    add_export_menu(plot, name);
    return plot;
}

// The share of requests at or below each time: x ms, y % (a step per request).
void set_distribution(QCPGraph* graph, std::vector<double> ms)
{
    std::sort(ms.begin(), ms.end());
    QVector<double> x, y;
    for (std::size_t i = 0; i < ms.size(); ++i) {
        x.push_back(ms[i]);
        y.push_back(100.0 * double(i + 1) / double(ms.size()));
    }
    graph->setData(x, y, true);
}

} // namespace

ServingCharts::ServingCharts(QWidget* parent)
    : QTabWidget(parent)
{
    m_pareto = new_plot(this, QStringLiteral("servingPareto"));
    auto* all = m_pareto->addGraph();
    all->setName(tr("deployments (simulated)"));
    all->setLineStyle(QCPGraph::lsNone);
    all->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(0x4e, 0x79, 0xa7), QColor(0x4e, 0x79, 0xa7, 90), 7));
    auto* front = m_pareto->addGraph();
    front->setName(tr("front (simulated)"));
    front->setPen(QPen(QColor(0xf2, 0x8e, 0x2b), 2));
    front->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, QColor(0xf2, 0x8e, 0x2b), 9));
    auto* selected = m_pareto->addGraph();
    selected->setName(tr("selected"));
    selected->setLineStyle(QCPGraph::lsNone);
    selected->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(0xe1, 0x57, 0x59), 3), Qt::NoBrush, 16));
    m_pareto->xAxis->setLabel(tr("output tokens/s per user (simulated)"));
    m_pareto->yAxis->setLabel(tr("tok/s per GPU (sim.)"));
    place_legend_below(m_pareto);
    add_hover_text(m_pareto, [this](const QCPAbstractPlottable* p, int index) {
        if (p != m_pareto->graph(0) || index < 0 || index >= int(m_pointOption.size()))
            return QString();
        return tr("%1 tokens/s per GPU at %2 tokens/s per user (simulated)")
            .arg(point_value(p, index), 0, 'f', 0)
            .arg(point_key(p, index), 0, 'f', 1);
    });
    connect(m_pareto, &QCustomPlot::mousePress, this, [this](QMouseEvent* event) {
        double best = 144;
        int chosen = -1;
        const auto points = m_pareto->graph(0)->data();
        int i = 0;
        for (auto it = points->constBegin(); it != points->constEnd(); ++it, ++i) {
            const double dx = m_pareto->xAxis->coordToPixel(it->key) - event->position().x();
            const double dy = m_pareto->yAxis->coordToPixel(it->value) - event->position().y();
            if (dx * dx + dy * dy < best) {
                best = dx * dx + dy * dy;
                chosen = i;
            }
        }
        if (chosen >= 0 && chosen < int(m_pointOption.size()))
            emit deploymentClicked(m_pointOption[std::size_t(chosen)]);
    });
    addTab(m_pareto, tr("Per GPU vs per user"));

    m_latency = new_plot(this, QStringLiteral("servingLatency"));
    for (const auto& [name, color] : {std::pair{tr("TTFT (simulated)"), QColor(0x4e, 0x79, 0xa7)},
                                      std::pair{tr("TPOT (simulated)"), QColor(0x59, 0xa1, 0x4f)}}) {
        auto* g = m_latency->addGraph();
        g->setName(name);
        g->setPen(QPen(color, 2));
        g->setLineStyle(QCPGraph::lsStepLeft);
    }
    m_latency->xAxis->setLabel(tr("ms (simulated)"));
    m_latency->yAxis->setLabel(tr("requests (%)"));
    place_legend_below(m_latency);
    use_readable_log_scale(m_latency->xAxis);
    addTab(m_latency, tr("TTFT and TPOT"));

    m_timeline = new_plot(this, QStringLiteral("servingTimeline"));
    auto* kv = m_timeline->addGraph();
    kv->setName(tr("KV cache used, replica 0 (%, simulated)"));
    kv->setPen(QPen(QColor(0xb0, 0x7a, 0xa1), 2));
    kv->setLineStyle(QCPGraph::lsStepLeft);
    auto* queue = m_timeline->addGraph(m_timeline->xAxis, m_timeline->yAxis2);
    queue->setName(tr("requests queued, replica 0 (simulated)"));
    queue->setPen(QPen(QColor(0xe1, 0x57, 0x59), 1.5));
    queue->setLineStyle(QCPGraph::lsStepLeft);
    m_timeline->xAxis->setLabel(tr("simulated time (s)"));
    m_timeline->yAxis->setLabel(tr("KV used (%)"));
    m_timeline->yAxis2->setLabel(tr("queued"));
    m_timeline->yAxis2->setVisible(true);
    place_legend_below(m_timeline);
    addTab(m_timeline, tr("KV cache and queue"));
}

void ServingCharts::clear()
{
    m_pointOption.clear();
    for (QCustomPlot* plot : {m_pareto, m_latency, m_timeline}) {
        for (int i = 0; i < plot->graphCount(); ++i)
            plot->graph(i)->data()->clear();
        plot->clearItems();
        plot->replot();
    }
}

void ServingCharts::setSearch(const serving::SearchResult& result, int selected)
{
    m_pointOption.clear();
    QVector<double> x, y, fx, fy, sx, sy;
    std::vector<std::pair<double, double>> front;
    for (std::size_t i = 0; i < result.options.size(); ++i) {
        const auto& o = result.options[i];
        const double perUser = o.summary.tokens_per_s_per_user, perGpu = o.summary.output_tokens_per_s / o.gpus;
        x.push_back(perUser);
        y.push_back(perGpu);
        m_pointOption.push_back(int(i));
        if (o.pareto)
            front.push_back({perUser, perGpu});
        if (int(i) == selected) {
            sx.push_back(perUser);
            sy.push_back(perGpu);
        }
    }
    std::sort(front.begin(), front.end());
    for (const auto& [a, b] : front) {
        fx.push_back(a);
        fy.push_back(b);
    }
    // QCustomPlot keeps points sorted by key; keep the point -> option map in that order.
    std::vector<std::size_t> order(x.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[int(a)] < x[int(b)]; });
    QVector<double> ox, oy;
    std::vector<int> map;
    for (const std::size_t i : order) {
        ox.push_back(x[int(i)]);
        oy.push_back(y[int(i)]);
        map.push_back(m_pointOption[i]);
    }
    m_pointOption = map;
    m_pareto->graph(0)->setData(ox, oy, true);
    m_pareto->graph(1)->setData(fx, fy, true);
    m_pareto->graph(2)->setData(sx, sy, true);
    m_pareto->rescaleAxes();
    m_pareto->xAxis->scaleRange(1.1, m_pareto->xAxis->range().center());
    m_pareto->yAxis->scaleRange(1.1, m_pareto->yAxis->range().center());
    m_pareto->replot();
}

void ServingCharts::setDetail(const ServingDetail& detail, const serving::Slo& slo)
{
    std::vector<double> ttft, tpot;
    for (const auto& r : detail.run.requests) {
        if (r.rejected)
            continue;
        ttft.push_back(r.ttft_ms());
        if (r.output > 1)
            tpot.push_back(r.tpot_ms());
    }
    set_distribution(m_latency->graph(0), ttft);
    set_distribution(m_latency->graph(1), tpot);
    m_latency->clearItems();
    // The SLO limits as vertical lines, and the percentile they hold for as a horizontal one.
    for (const auto& [limit, color] :
         {std::pair{slo.ttft_ms, QColor(0x4e, 0x79, 0xa7)}, std::pair{slo.tpot_ms, QColor(0x59, 0xa1, 0x4f)}}) {
        if (limit <= 0)
            continue;
        auto* line = new QCPItemStraightLine(m_latency);
        line->setObjectName(QStringLiteral("sloLine"));
        line->point1->setCoords(limit, 0);
        line->point2->setCoords(limit, 100);
        line->setPen(QPen(color, 1.5, Qt::DashLine));
    }
    auto* share = new QCPItemStraightLine(m_latency);
    share->setObjectName(QStringLiteral("sloPercentile"));
    share->point1->setCoords(1, slo.percentile);
    share->point2->setCoords(2, slo.percentile);
    share->setPen(QPen(Qt::gray, 1, Qt::DotLine));
    m_latency->rescaleAxes();
    m_latency->yAxis->setRange(0, 102);
    m_latency->replot();

    QVector<double> t, kv, queued;
    const double blocks = double(std::max<std::int64_t>(1, detail.option.limits.kv_blocks));
    for (const auto& s : detail.run.steps) {
        t.push_back(s.t_s);
        kv.push_back(100.0 * double(s.kv_blocks_used) / blocks);
        queued.push_back(s.queued);
    }
    m_timeline->graph(0)->setData(t, kv, true);
    m_timeline->graph(1)->setData(t, queued, true);
    m_timeline->rescaleAxes();
    m_timeline->yAxis->setRange(0, 105);
    m_timeline->yAxis2->setRange(0, std::max(1.0, m_timeline->yAxis2->range().upper * 1.1));
    m_timeline->replot();
}

int ServingCharts::sloLineCount() const
{
    int n = 0;
    for (int i = 0; i < m_latency->itemCount(); ++i)
        n += m_latency->item(i)->objectName() == QStringLiteral("sloLine") ? 1 : 0;
    return n;
}

} // namespace shard::ui
