#include "timeline_view.h"

#include "chart_export.h"
#include "gantt_bars.h"
#include "plot_style.h"

#include "core/error.h"
#include "cost/predicted_timeline.h"
#include "store/run_timeline.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QtConcurrent/QtConcurrentRun>
#include <QToolTip>
#include <QVBoxLayout>

namespace shard::ui {

namespace {

enum Group { AttentionGroup, MlpGroup, OtherGroup, CommGroup, ModeledGroup, HandoffGroup, GroupCount };

Group group_of(const TimelineSpan& span)
{
    if (span.category == SpanCategory::StageHandoff)
        return HandoffGroup;
    if (span.category == SpanCategory::Communication)
        return span.modeled ? ModeledGroup : CommGroup;
    static const QStringList attention{QStringLiteral("qkv"), QStringLiteral("attention"), QStringLiteral("out_proj")};
    static const QStringList mlp{QStringLiteral("mlp_up"),   QStringLiteral("activation"),
                                 QStringLiteral("mlp_down"), QStringLiteral("router"),
                                 QStringLiteral("experts"),  QStringLiteral("shared_experts")};
    const QString kind = QString::fromStdString(span.kind);
    return attention.contains(kind) ? AttentionGroup : mlp.contains(kind) ? MlpGroup : OtherGroup;
}

QString group_name(Group g)
{
    switch (g) {
    case AttentionGroup:
        return QObject::tr("attention block (compute)");
    case MlpGroup:
        return QObject::tr("MLP / experts (compute)");
    case OtherGroup:
        return QObject::tr("norms, embedding, LM head (compute)");
    case CommGroup:
        return QObject::tr("collectives");
    case ModeledGroup:
        return QObject::tr("collectives (time modeled)");
    case HandoffGroup:
        return QObject::tr("stage hand-off");
    case GroupCount:
        break;
    }
    return {};
}

QColor group_color(Group g)
{
    switch (g) {
    case AttentionGroup:
        return {0x4e, 0x79, 0xa7};
    case MlpGroup:
        return {0x59, 0xa1, 0x4f};
    case OtherGroup:
        return {0x9d, 0xa3, 0xab};
    case CommGroup:
        return {0xe1, 0x57, 0x59};
    case ModeledGroup:
        return {0xf2, 0x8e, 0x2b};
    case HandoffGroup:
        return {0xb0, 0x7a, 0xa1};
    case GroupCount:
        break;
    }
    return Qt::black;
}

// Milliseconds once a step is long enough for microseconds to be hard to read.
bool in_ms(const StepTimeline& t)
{
    return std::max(t.end_us(), t.period_us) >= 2000.0;
}

QString duration_text(double us)
{
    return us >= 1000.0 ? QObject::tr("%1 ms").arg(us / 1000.0, 0, 'f', 3) : QObject::tr("%1 µs").arg(us, 0, 'f', 1);
}

bool same_plan(const Plan& a, const Plan& b)
{
    return a.model == b.model && a.topology == b.topology && a.workload == b.workload && a.strategy == b.strategy;
}

struct LoadedRun {
    qint64 id = 0;
    QString title;
    std::optional<Plan> plan;
    std::array<StepTimeline, 2> predicted;
    std::array<StepTimeline, 2> measured;
    QString error;
};

LoadedRun load_run(const std::string& database, qint64 id)
{
    LoadedRun loaded;
    loaded.id = id;
    try {
        RunStore store(database);
        const auto record = store.get(id);
        if (!record)
            throw Error("run " + std::to_string(id) + " is not in " + database);
        const QString backend = QString::fromStdString(record->backend);
        loaded.title =
            QObject::tr("run #%1 (%2 backend%3, %4)")
                .arg(id)
                .arg(backend, backend == QStringLiteral("cpu") ? QObject::tr(", fp32 on this CPU") : QString(),
                     QString::fromStdString(to_string(record->status)));
        if (const auto text = store.plan_json(id)) {
            try {
                Plan plan = plan_from_text(*text, "run #" + std::to_string(id));
                const Estimate e = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
                loaded.predicted = {predicted_timeline(e, plan.model, plan.strategy, false),
                                    predicted_timeline(e, plan.model, plan.strategy, true)};
                loaded.plan = std::move(plan);
            } catch (const Error&) {
                // An older run may have stored its start event instead of the plan: measured only.
            }
        }
        for (const bool decode : {false, true})
            if (const auto step = representative_step(store, id, decode))
                loaded.measured[decode ? 1 : 0] = measured_timeline(store, id, *step);
    } catch (const std::exception& e) {
        loaded.error = QString::fromUtf8(e.what());
    }
    return loaded;
}

} // namespace

TimelineView::TimelineView(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* bar = new QHBoxLayout;
    m_phase = new QComboBox;
    m_phase->setObjectName(QStringLiteral("timelinePhase"));
    m_phase->addItems({tr("Decode step"), tr("Prefill")});
    m_source = new QLabel;
    m_source->setWordWrap(true);
    m_backToCandidate = new QPushButton(tr("Show the selected candidate"));
    m_backToCandidate->setVisible(false);
    auto* exportButton = new QPushButton(tr("Export…"));
    bar->addWidget(new QLabel(tr("Phase:")));
    bar->addWidget(m_phase);
    bar->addWidget(m_source, 1);
    bar->addWidget(m_backToCandidate);
    bar->addWidget(exportButton);
    layout->addLayout(bar);

    auto make_plot = [](const QString& name) {
        auto* plot = new QCustomPlot;
        let_layout_shrink(plot);
        plot->setObjectName(name);
        plot->plotLayout()->insertRow(0);
        plot->plotLayout()->addElement(
            0, 0, new QCPTextElement(plot, QString(), QFont(QStringLiteral("sans"), 9, QFont::Bold)));
        plot->yAxis->setRangeReversed(true); // the first device on top
        plot->legend->setVisible(true);
        plot->legend->setFont(QFont(QStringLiteral("sans"), 8));
        place_legend_below(plot);
        plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
        plot->axisRect()->setRangeDrag(Qt::Horizontal);
        plot->axisRect()->setRangeZoom(Qt::Horizontal);
        plot->setMouseTracking(true);
        plot->setMinimumHeight(180);
        return plot;
    };
    m_predictedPlot = make_plot(QStringLiteral("predictedTimeline"));
    m_measuredPlot = make_plot(QStringLiteral("measuredTimeline"));
    m_split = new QSplitter(Qt::Vertical);
    m_split->addWidget(m_predictedPlot);
    m_split->addWidget(m_measuredPlot);
    layout->addWidget(m_split, 1);

    for (QCustomPlot* plot : {m_predictedPlot, m_measuredPlot}) {
        add_export_menu(plot, plot == m_predictedPlot ? QStringLiteral("timeline-predicted")
                                                      : QStringLiteral("timeline-measured"));
        connect(plot, &QCustomPlot::mouseMove, this, [this, plot](QMouseEvent* event) {
            const QString text = describeAt(plot, event->position());
            if (text.isEmpty())
                QToolTip::hideText();
            else
                QToolTip::showText(event->globalPosition().toPoint(), text, plot);
        });
        connect(plot, &QCustomPlot::mouseDoubleClick, this, [this] { redraw(); }); // back to the whole step
    }
    connect(m_phase, &QComboBox::currentIndexChanged, this, [this] { redrawIfVisible(); });
    connect(m_backToCandidate, &QPushButton::clicked, this, [this] {
        m_run = 0;
        redrawIfVisible();
    });
    connect(exportButton, &QPushButton::clicked, this, [this] {
        export_plots_with_dialog(this, {m_predictedPlot, m_measuredPlot}, QStringLiteral("timeline"), Qt::Vertical);
    });
}

bool TimelineView::decode() const
{
    return m_phase->currentIndex() == 0;
}

void TimelineView::setDecode(bool decode)
{
    m_phase->setCurrentIndex(decode ? 0 : 1);
}

void TimelineView::showPlan(const std::optional<Plan>& plan, const Estimate* estimate)
{
    m_plan = plan;
    m_planTimeline = {};
    m_rejection = estimate && !estimate->feasible ? QString::fromStdString(estimate->reason) : QString();
    if (plan && estimate && estimate->feasible)
        m_planTimeline = {predicted_timeline(*estimate, plan->model, plan->strategy, false),
                          predicted_timeline(*estimate, plan->model, plan->strategy, true)};
    // The timeline follows what was picked last: another candidate replaces a run of
    // another plan.
    if (m_run && (!plan || !m_runPlan || !same_plan(*plan, *m_runPlan)))
        m_run = 0;
    redrawIfVisible();
}

void TimelineView::showRun(const QString& database, qint64 run)
{
    const quint64 generation = ++m_generation;
    m_source->setText(tr("Reading run #%1…").arg(run));
    auto* watcher = new QFutureWatcher<LoadedRun>(this);
    connect(watcher, &QFutureWatcher<LoadedRun>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation != m_generation)
            return;
        LoadedRun loaded = watcher->result();
        m_run = loaded.id;
        m_runTitle = loaded.title;
        m_runPlan = std::move(loaded.plan);
        m_runPredicted = std::move(loaded.predicted);
        m_runMeasured = std::move(loaded.measured);
        m_runError = loaded.error;
        redrawIfVisible();
        emit runShown(m_run, m_runError);
    });
    watcher->setFuture(QtConcurrent::run(load_run, database.toStdString(), run));
}

void TimelineView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_stale)
        redraw();
}

void TimelineView::redrawIfVisible()
{
    if (isVisible())
        redraw();
    else
        m_stale = true;
}

bool TimelineView::runReplacesPlan() const
{
    return m_run != 0 && !(m_plan && m_runPlan && same_plan(*m_plan, *m_runPlan));
}

const StepTimeline* TimelineView::currentPredicted() const
{
    const int phase = decode() ? 1 : 0;
    return runReplacesPlan() ? &m_runPredicted[std::size_t(phase)] : &m_planTimeline[std::size_t(phase)];
}

const StepTimeline* TimelineView::currentMeasured() const
{
    return m_run != 0 ? &m_runMeasured[decode() ? 1 : 0] : nullptr;
}

void TimelineView::redraw()
{
    m_stale = false;
    const QString phaseText = decode() ? tr("one decode step") : tr("the prefill");
    const bool runShown = m_run != 0;
    m_backToCandidate->setVisible(runReplacesPlan() && m_plan.has_value());

    const Plan* predictedPlan = runReplacesPlan() ? (m_runPlan ? &*m_runPlan : nullptr) : (m_plan ? &*m_plan : nullptr);
    const StepTimeline* predicted = currentPredicted();
    QString predictedTitle;
    if (predictedPlan && !predicted->rows.empty()) {
        const auto& w = predictedPlan->workload;
        const QString figure = decode() ? tr("%1 per output token").arg(duration_text(predicted->period_us))
                                        : tr("TTFT %1").arg(duration_text(predicted->period_us));
        predictedTitle = tr("Predicted: %1 of %2 on %3 x %4, %5, batch %6 · %7 · %8")
                             .arg(phaseText, QString::fromStdString(predictedPlan->strategy.label()))
                             .arg(predictedPlan->strategy.devices())
                             .arg(QString::fromStdString(predictedPlan->topology.gpu.name),
                                  QString::fromStdString(to_string(w.dtype)))
                             .arg(w.batch)
                             .arg(figure, QString::fromStdString(predicted->placement));
    }
    draw(m_predictedPlot, predicted, predictedTitle,
         m_plan || runShown
             ? (m_rejection.isEmpty() ? tr("Nothing to schedule for this candidate.")
                                      : tr("Rejected by the planner: %1. Nothing to schedule.").arg(m_rejection))
             : tr("Select a candidate to see its predicted step."));

    const StepTimeline* measured = currentMeasured();
    QString measuredTitle;
    if (measured && !measured->rows.empty())
        measuredTitle = tr("Measured: %1 of %2 · step %3 · %4 rank(s) · %5 · %6")
                            .arg(phaseText, m_runTitle)
                            .arg(measured->step)
                            .arg(measured->rows.size())
                            .arg(duration_text(measured->period_us), QString::fromStdString(measured->placement));
    QString emptyMeasured = tr("No measured run shown: start one in the Run tab, or pick a run in History and press "
                               "\"Timeline\".");
    if (runShown)
        emptyMeasured = !m_runError.isEmpty() ? tr("Cannot show run #%1: %2").arg(m_run).arg(m_runError)
                                              : tr("Run #%1 stored no measurements for %2.").arg(m_run).arg(phaseText);
    draw(m_measuredPlot, measured, measuredTitle, emptyMeasured);
    // Height by rows: eight measured ranks under a one-row prediction need the room; an
    // empty plot only its message.
    const auto weight = [](const StepTimeline* t) {
        return t && !t->rows.empty() ? 3.0 + double(t->rows.size()) : 1.5;
    };
    const double total = double(std::max(m_split->height(), 200));
    const double a = weight(predicted), b = weight(measured);
    m_split->setSizes({int(total * a / (a + b)), int(total * b / (a + b))});

    if (runShown)
        m_source->setText(!runReplacesPlan()
                              ? tr("Showing %1, a run of the selected candidate.").arg(m_runTitle)
                              : tr("Showing %1 and the planner's prediction for its plan.").arg(m_runTitle));
    else
        m_source->setText(tr("Showing the selected candidate. Drag or scroll to zoom in time; double-click to see the "
                             "whole step."));
}

void TimelineView::draw(QCustomPlot* plot, const StepTimeline* timeline, const QString& title,
                        const QString& empty_text)
{
    plot->clearPlottables();
    plot->clearItems();
    (plot == m_predictedPlot ? m_drawnPredicted : m_drawnMeasured) = timeline ? *timeline : StepTimeline{};
    const StepTimeline& t = plot == m_predictedPlot ? m_drawnPredicted : m_drawnMeasured;
    auto* heading = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0));
    if (t.rows.empty()) {
        heading->setText(wrap_title(empty_text));
        plot->legend->setVisible(false);
        plot->xAxis->setVisible(false); // no time axis without a step to put on it
        plot->yAxis->setVisible(false);
        plot->replot();
        return;
    }
    heading->setText(wrap_title(title));
    plot->legend->setVisible(true);
    plot->xAxis->setVisible(true);
    plot->yAxis->setVisible(true);
    const bool ms = in_ms(t);
    const double scale = ms ? 1e-3 : 1.0;
    std::array<std::vector<GanttBars::Bar>, GroupCount> bars;
    for (std::size_t i = 0; i < t.spans.size(); ++i) {
        const TimelineSpan& s = t.spans[i];
        bars[group_of(s)].push_back({s.start_us * scale, s.duration_us * scale, s.row, int(i)});
    }
    for (int g = 0; g < GroupCount; ++g) {
        if (bars[std::size_t(g)].empty())
            continue;
        auto* series = new GanttBars(plot->xAxis, plot->yAxis);
        series->setName(group_name(Group(g)));
        const QColor color = group_color(Group(g));
        series->setBrush(g == ModeledGroup ? QBrush(color, Qt::BDiagPattern) : QBrush(color));
        series->setPen(QPen(color.darker(140)));
        if (g == HandoffGroup) // a strip along the bottom of the receiving row
            series->setThickness(0.2, 0.38);
        series->setBars(std::move(bars[std::size_t(g)]));
    }
    QSharedPointer<QCPAxisTickerText> rows(new QCPAxisTickerText);
    for (std::size_t r = 0; r < t.rows.size(); ++r)
        rows->addTick(double(r), QString::fromStdString(t.rows[r]));
    plot->yAxis->setTicker(rows);
    plot->yAxis->setRange(-0.6, double(t.rows.size()) - 0.4);
    const QString unit = ms ? tr("ms") : tr("µs");
    plot->xAxis->setLabel(t.measured ? tr("time from the step's start (%1, measured)").arg(unit)
                                     : tr("time from the step's start (%1, predicted)").arg(unit));
    const double end = std::max(t.end_us(), t.period_us) * scale;
    plot->xAxis->setRange(0, end * 1.02);
    if (t.period_us > 0) {
        auto* line = new QCPItemStraightLine(plot);
        line->point1->setCoords(t.period_us * scale, 0);
        line->point2->setCoords(t.period_us * scale, 1);
        line->setPen(QPen(Qt::darkGray, 1, Qt::DashLine));
        auto* label = new QCPItemText(plot);
        label->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
        label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(t.period_us * scale, 0.0);
        label->setPadding(QMargins(2, 2, 4, 2));
        label->setText(t.measured ? tr("step ends") : t.decode ? tr("next token") : tr("first token"));
        label->setColor(Qt::darkGray);
    }
    plot->replot();
}

const StepTimeline* TimelineView::drawnTimeline(QCustomPlot* plot) const
{
    return plot == m_predictedPlot ? &m_drawnPredicted : plot == m_measuredPlot ? &m_drawnMeasured : nullptr;
}

QString TimelineView::describeAt(QCustomPlot* plot, const QPointF& pixel) const
{
    const StepTimeline* t = drawnTimeline(plot);
    if (!t)
        return {};
    // Later series are drawn on top (the hand-off strip over a receiving stage's compute).
    for (int i = plot->plottableCount() - 1; i >= 0; --i) {
        const auto* series = dynamic_cast<const GanttBars*>(plot->plottable(i));
        const GanttBars::Bar* bar = series ? series->barAt(pixel) : nullptr;
        if (!bar)
            continue;
        const TimelineSpan& s = t->spans[std::size_t(bar->tag)];
        const QString how = !t->measured ? tr("predicted, %1").arg(QString::fromStdString(s.source))
                            : s.modeled  ? tr("modeled (emulated ranks)")
                                         : tr("measured");
        QString text = QString::fromStdString(s.name);
        if (s.layer >= 0)
            text += tr(" · layer %1").arg(s.layer);
        if (!t->measured && t->rows.size() > 1) // pipeline stages run several microbatches
            text += tr(" · microbatch %1").arg(s.microbatch);
        text += tr("\n%1 %2 (%3) · starts at %4 · %5")
                    .arg(duration_text(s.duration_us), how, QString::fromStdString(s.kind), duration_text(s.start_us),
                         QString::fromStdString(t->rows[std::size_t(s.row)]));
        return text;
    }
    return {};
}

namespace {

QStringList row_names(const StepTimeline* t)
{
    QStringList rows;
    for (const auto& r : t ? t->rows : std::vector<std::string>{})
        rows << QString::fromStdString(r);
    return rows;
}

} // namespace

int TimelineView::predictedSpanCount() const
{
    return int(currentPredicted()->spans.size());
}

int TimelineView::measuredSpanCount() const
{
    const StepTimeline* t = currentMeasured();
    return t ? int(t->spans.size()) : 0;
}

QStringList TimelineView::predictedRows() const
{
    return row_names(currentPredicted());
}

QStringList TimelineView::measuredRows() const
{
    return row_names(currentMeasured());
}

bool TimelineView::exportTo(const QString& path)
{
    return export_plots({m_predictedPlot, m_measuredPlot}, path, Qt::Vertical);
}

} // namespace shard::ui
