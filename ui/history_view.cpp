#include "history_view.h"

#include "history_model.h"
#include "kind_compare_chart.h"
#include "run_trend_chart.h"

#include "store/calibration.h"
#include "store/kind_comparison.h"
#include "store/run_store.h"

#include <QFile>
#include <QFileDialog>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QTabWidget>
#include <QtConcurrent/QtConcurrentRun>
#include <QTextStream>
#include <QVBoxLayout>

namespace shard::ui {

namespace {

struct Loaded {
    std::vector<RunRecord> runs;
    QString error;
};

} // namespace

HistoryView::HistoryView(QWidget* parent)
    : QWidget(parent)
{
    m_path = QString::fromStdString(RunStore::default_path());
    auto* layout = new QVBoxLayout(this);
    auto* bar = new QHBoxLayout;
    m_filter = new QLineEdit;
    m_filter->setPlaceholderText(tr("Filter runs (model, topology, strategy, backend, status)"));
    m_filter->setClearButtonEnabled(true);
    auto* refresh = new QPushButton(tr("Refresh"));
    auto* compare = new QPushButton(tr("Compare selected"));
    compare->setObjectName(QStringLiteral("historyCompare"));
    auto* timeline = new QPushButton(tr("Timeline"));
    timeline->setObjectName(QStringLiteral("historyTimeline"));
    timeline->setToolTip(tr("Show the selected run's step per rank, measured, next to its plan's prediction"));
    auto* remove = new QPushButton(tr("Delete…"));
    auto* csv = new QPushButton(tr("Export CSV…"));
    bar->addWidget(m_filter, 1);
    for (QPushButton* b : {refresh, compare, timeline, remove, csv})
        bar->addWidget(b);
    layout->addLayout(bar);
    m_model = new HistoryModel(this);
    auto* proxy = new QSortFilterProxyModel(this);
    proxy->setSourceModel(m_model);
    proxy->setFilterKeyColumn(-1);
    proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_table = new QTableView;
    m_table->setObjectName(QStringLiteral("historyView"));
    m_table->setModel(proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(HistoryModel::Id, Qt::DescendingOrder);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_kinds = new KindCompareChart;
    m_trend = new RunTrendChart;
    m_charts = new QTabWidget;
    m_charts->addTab(m_kinds, tr("Per op and collective kind"));
    m_charts->addTab(m_trend, tr("Run over run"));
    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(m_table);
    split->addWidget(m_charts);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    m_charts->setMinimumHeight(240);
    layout->addWidget(split, 1);
    m_status = new QLabel;
    m_status->setWordWrap(true); // the database path can be long
    layout->addWidget(m_status);
    connect(m_filter, &QLineEdit::textChanged, proxy, &QSortFilterProxyModel::setFilterFixedString);
    connect(refresh, &QPushButton::clicked, this, &HistoryView::refresh);
    connect(compare, &QPushButton::clicked, this, &HistoryView::compareSelected);
    connect(timeline, &QPushButton::clicked, this, &HistoryView::showSelectedTimeline);
    connect(m_table, &QTableView::doubleClicked, this, &HistoryView::showSelectedTimeline);
    connect(remove, &QPushButton::clicked, this, [this] { deleteSelected(true); });
    connect(csv, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export runs"), {}, tr("CSV (*.csv)"));
        if (!path.isEmpty() && !exportCsv(path))
            QMessageBox::warning(this, tr("Export failed"), tr("Could not write %1").arg(path));
    });
}

QCustomPlot* HistoryView::comparePlot() const
{
    return m_kinds->plot();
}

void HistoryView::setDatabase(const QString& path)
{
    m_path = path;
    refresh();
}

void HistoryView::refresh()
{
    const quint64 generation = ++m_generation;
    m_status->setText(tr("Reading %1…").arg(m_path));
    auto* watcher = new QFutureWatcher<Loaded>(this);
    connect(watcher, &QFutureWatcher<Loaded>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation != m_generation)
            return;
        Loaded loaded = watcher->result();
        if (!loaded.error.isEmpty()) {
            m_status->setText(tr("Cannot read the run history: %1").arg(loaded.error));
            return;
        }
        const int count = int(loaded.runs.size());
        m_model->setRuns(std::move(loaded.runs));
        m_table->resizeColumnsToContents();
        m_status->setText(
            tr("%1 runs in %2. Measured figures come from the runs' own machines; predicted ones from the "
               "planner for the plan's GPUs.")
                .arg(count)
                .arg(m_path));
        emit refreshed(count);
    });
    const std::string path = m_path.toStdString();
    watcher->setFuture(QtConcurrent::run([path] {
        Loaded loaded;
        try {
            RunStore store(path);
            loaded.runs = store.list({});
        } catch (const std::exception& e) {
            loaded.error = QString::fromUtf8(e.what());
        }
        return loaded;
    }));
}

std::vector<RunRecord> HistoryView::selectedRuns() const
{
    auto* proxy = qobject_cast<QSortFilterProxyModel*>(m_table->model());
    std::vector<RunRecord> runs;
    for (const QModelIndex& index : m_table->selectionModel()->selectedRows())
        if (const RunRecord* r = m_model->run(proxy->mapToSource(index).row()))
            runs.push_back(*r);
    std::sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) { return a.id < b.id; });
    return runs;
}

void HistoryView::showSelectedTimeline()
{
    const auto runs = selectedRuns();
    if (runs.empty()) {
        m_status->setText(tr("Select a run to see its timeline."));
        return;
    }
    emit timelineRequested(m_path, runs.back().id);
}

void HistoryView::compareSelected()
{
    std::vector<RunRecord> runs = selectedRuns();
    if (runs.empty()) {
        m_status->setText(tr("Select one or more runs to compare."));
        m_kinds->clear();
        return;
    }
    // Run over run: one selected run brings every stored run of the same plan.
    std::vector<RunRecord> trend;
    QString title;
    if (runs.size() == 1) {
        for (int row = 0; row < m_model->rowCount(); ++row)
            if (const RunRecord* r = m_model->run(row); r && r->plan_hash == runs.front().plan_hash)
                trend.push_back(*r);
        std::sort(trend.begin(), trend.end(), [](const RunRecord& a, const RunRecord& b) { return a.id < b.id; });
        title = tr("Run over run: the %1 stored run(s) of %2")
                    .arg(trend.size())
                    .arg(QString::fromStdString(runs.front().plan_name));
    } else {
        trend = runs;
        title = tr("Run over run: %1 selected runs").arg(trend.size());
    }
    m_trend->setRuns(std::move(trend), title);

    if (runs.size() > 6) // six pairs of bars per op kind stay readable
        runs.erase(runs.begin(), runs.end() - 6);
    const quint64 generation = ++m_compareGeneration;
    struct Compared {
        std::vector<std::vector<KindComparison>> times;
        QString error;
    };
    auto* watcher = new QFutureWatcher<Compared>(this);
    connect(watcher, &QFutureWatcher<Compared>::finished, this, [this, watcher, generation, runs] {
        watcher->deleteLater();
        if (generation != m_compareGeneration)
            return;
        const Compared compared = watcher->result();
        if (!compared.error.isEmpty()) {
            m_status->setText(tr("Cannot compare: %1").arg(compared.error));
            return;
        }
        m_kinds->setRuns(runs, compared.times);
        m_status->setText(tr("Per op and collective kind: %1 run(s); run over run: %2 run(s).")
                              .arg(runs.size())
                              .arg(m_trend->runCount()));
        emit this->compared(int(runs.size()));
    });
    std::vector<std::int64_t> ids;
    for (const auto& r : runs)
        ids.push_back(r.id);
    watcher->setFuture(QtConcurrent::run([path = m_path.toStdString(), ids] {
        Compared out;
        try {
            RunStore store(path);
            const Calibration fit = fit_calibration(store);
            for (const auto id : ids)
                out.times.push_back(compare_with_calibration(store, id, fit));
        } catch (const std::exception& e) {
            out.error = QString::fromUtf8(e.what());
        }
        return out;
    }));
}

bool HistoryView::deleteSelected(bool confirm)
{
    auto* proxy = qobject_cast<QSortFilterProxyModel*>(m_table->model());
    std::vector<std::int64_t> ids;
    for (const QModelIndex& index : m_table->selectionModel()->selectedRows())
        if (const RunRecord* r = m_model->run(proxy->mapToSource(index).row()))
            ids.push_back(r->id);
    if (ids.empty())
        return false;
    if (confirm
        && QMessageBox::question(this, tr("Delete runs"),
                                 tr("Delete %1 run(s) and their measurements?").arg(ids.size()))
               != QMessageBox::Yes)
        return false;
    try {
        RunStore store(m_path.toStdString());
        for (const auto id : ids)
            store.remove(id);
    } catch (const std::exception& e) {
        m_status->setText(tr("Cannot delete: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
    refresh();
    return true;
}

bool HistoryView::exportCsv(const QString& path) const
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
        return false;
    QTextStream out(&file);
    auto quote = [](QString text) {
        return QLatin1Char('"') + text.replace(QLatin1Char('"'), QStringLiteral("\"\"")) + QLatin1Char('"');
    };
    for (int c = 0; c < m_model->columnCount(); ++c)
        out << (c ? QStringLiteral(",") : QString())
            << quote(m_model->headerData(c, Qt::Horizontal).toString().replace(QLatin1Char('\n'), QLatin1Char(' ')));
    out << "\n";
    for (int r = 0; r < m_model->rowCount(); ++r) {
        for (int c = 0; c < m_model->columnCount(); ++c)
            out << (c ? QStringLiteral(",") : QString()) << quote(m_model->index(r, c).data().toString());
        out << "\n";
    }
    return true;
}

} // namespace shard::ui
