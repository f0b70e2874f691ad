#include "pareto_chart.h"
#include "plot_style.h"

#include "chart_export.h"
#include "plot_hover.h"

#include <qcustomplot.h>

#include <QVBoxLayout>

#include <algorithm>

namespace shard::ui {

namespace {

double gib(std::int64_t bytes)
{
    return double(bytes) / double(1ull << 30);
}

} // namespace

ParetoChart::ParetoChart(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_plot = new QCustomPlot(this);
    let_layout_shrink(m_plot);
    m_plot->setObjectName(QStringLiteral("paretoPlot"));
    layout->addWidget(m_plot);
    m_all = m_plot->addGraph();
    m_all->setName(tr("candidates (predicted)"));
    m_all->setLineStyle(QCPGraph::lsNone);
    m_all->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(0x4e, 0x79, 0xa7), QColor(0x4e, 0x79, 0xa7, 90), 7));
    m_front = m_plot->addGraph();
    m_front->setName(tr("Pareto front (predicted)"));
    m_front->setPen(QPen(QColor(0xf2, 0x8e, 0x2b), 2));
    m_front->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, QColor(0xf2, 0x8e, 0x2b), 9));
    m_selected = m_plot->addGraph();
    m_selected->setName(tr("selected"));
    m_selected->setLineStyle(QCPGraph::lsNone);
    m_selected->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(0xe1, 0x57, 0x59), 3), Qt::NoBrush, 16));
    m_plot->xAxis->setLabel(tr("memory per GPU (GiB, predicted)"));
    // Latencies span orders of magnitude between the best and the worst layouts.
    use_readable_log_scale(m_plot->yAxis);
    m_plot->legend->setVisible(true);
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    add_export_menu(m_plot, QStringLiteral("pareto"));
    m_hover = add_hover_text(
        m_plot, [this](const QCPAbstractPlottable* plottable, int index) { return pointText(plottable, index); });
    connect(m_plot, &QCustomPlot::mousePress, this, [this](QMouseEvent* event) {
        // The nearest point within 12 pixels selects its candidate.
        double best = 144;
        int chosen = -1;
        const auto points = m_all->data();
        int i = 0;
        for (auto it = points->constBegin(); it != points->constEnd(); ++it, ++i) {
            const double dx = m_plot->xAxis->coordToPixel(it->key) - event->position().x();
            const double dy = m_plot->yAxis->coordToPixel(it->value) - event->position().y();
            if (dx * dx + dy * dy < best) {
                best = dx * dx + dy * dy;
                chosen = i;
            }
        }
        if (chosen >= 0 && chosen < int(m_indices.size()))
            emit candidateClicked(m_indices[std::size_t(chosen)]);
    });
}

void ParetoChart::setResult(const PlanResult& result, Objective objective)
{
    m_result = result;
    m_objective = objective;
    m_plot->yAxis->setLabel(objective == Objective::TTFT ? tr("time to first token (ms, predicted)")
                                                         : tr("time per output token (ms, predicted)"));
    // QCustomPlot keeps points sorted by key: sort them (and their candidates) by memory.
    struct Point {
        double memory, latency;
        int candidate;
        bool pareto;
    };
    std::vector<Point> points;
    for (std::size_t i = 0; i < result.candidates.size(); ++i) {
        const Candidate& c = result.candidates[i];
        if (c.estimate.feasible)
            points.push_back(
                {gib(c.estimate.memory.total()), pareto_latency_ms(c.estimate, objective), int(i), c.pareto});
    }
    std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.memory < b.memory; });
    QVector<double> x, y, fx, fy;
    m_indices.clear();
    for (const Point& p : points) {
        x << p.memory;
        y << p.latency;
        m_indices.push_back(p.candidate);
        if (p.pareto) {
            fx << p.memory;
            fy << p.latency;
        }
    }
    m_all->setData(x, y, true);
    m_front->setData(fx, fy, true);
    m_selected->data()->clear();
    m_plot->rescaleAxes();
    m_plot->xAxis->scaleRange(1.15, m_plot->xAxis->range().center());
    m_plot->yAxis->setRange(m_plot->yAxis->range().lower / 1.3, m_plot->yAxis->range().upper * 1.3);
    m_plot->replot();
}

void ParetoChart::setSelected(int candidate)
{
    m_selected->data()->clear();
    if (candidate >= 0 && candidate < int(m_result.candidates.size())) {
        const Candidate& c = m_result.candidates[std::size_t(candidate)];
        if (c.estimate.feasible)
            m_selected->addData(gib(c.estimate.memory.total()), pareto_latency_ms(c.estimate, m_objective));
    }
    m_plot->replot();
}

QString ParetoChart::pointText(const QCPAbstractPlottable* plottable, int index) const
{
    // Every series holds points of the candidates: find the candidate by its point.
    const double memory = point_key(plottable, index), latency = point_value(plottable, index);
    for (const int i : m_indices) {
        const Candidate& c = m_result.candidates[std::size_t(i)];
        if (gib(c.estimate.memory.total()) != memory || pareto_latency_ms(c.estimate, m_objective) != latency)
            continue;
        const QString objective = m_objective == Objective::TTFT ? tr("TTFT") : tr("TPOT");
        const PhaseCost& phase = m_objective == Objective::TTFT ? c.estimate.prefill : c.estimate.decode;
        return tr("<b>%1</b>%2<br>%3 %4 ms (predicted: %7 % from measured kernel tables, the rest roofline)<br>"
                  "memory %5 GiB per GPU (predicted)<br>%6 tokens/s decode throughput (predicted)<br>click to select")
            .arg(QString::fromStdString(c.strategy.label()).toHtmlEscaped(),
                 c.pareto ? tr(" · on the Pareto front") : QString(), objective)
            .arg(latency, 0, 'f', latency < 10 ? 3 : 1)
            .arg(memory, 0, 'f', 1)
            .arg(c.estimate.tokens_per_s, 0, 'f', 0)
            .arg(100.0 * phase.measured_share, 0, 'f', 0);
    }
    return {};
}

QString ParetoChart::hoverTextAt(const QPointF& pixel) const
{
    return m_hover->textAt(pixel);
}

int ParetoChart::pointCount() const
{
    return m_all->dataCount();
}

int ParetoChart::selectedPointCount() const
{
    return m_selected->dataCount();
}

bool ParetoChart::exportTo(const QString& path)
{
    return export_plots({m_plot}, path);
}

} // namespace shard::ui
