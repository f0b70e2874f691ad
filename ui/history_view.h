#pragma once

#include "store/run_store.h"

#include <QWidget>

#include <map>

class QCustomPlot;
class QLabel;
class QLineEdit;
class QTableView;
class QTabWidget;

namespace shard::ui {

class HistoryModel;
class KindCompareChart;
class RunTrendChart;

// The run store in a table: filter, refresh (read off the UI thread), compare the selected
// runs per op and collective kind (measured against predicted ms per decode step) and run over run (TPOT and
// TTFT in the order they ran; one selected run brings every run of its plan), open a run's
// timeline, delete, export CSV.
class HistoryView : public QWidget {
    Q_OBJECT

public:
    explicit HistoryView(QWidget* parent = nullptr);

    void setDatabase(const QString& path); // default: the CLI's run database
    void refresh();
    HistoryModel* model() const { return m_model; }
    QTableView* view() const { return m_table; }
    KindCompareChart* kindChart() const { return m_kinds; }
    QCustomPlot* comparePlot() const;
    RunTrendChart* trendChart() const { return m_trend; }
    QTabWidget* charts() const { return m_charts; }
    // Draws both comparisons; the per-kind one reads the store off the UI thread and
    // emits `compared` when drawn.
    void compareSelected();
    void showSelectedTimeline();
    bool deleteSelected(bool confirm = true);
    bool exportCsv(const QString& path) const;

signals:
    void refreshed(int runs);
    void compared(int runs);
    // "Timeline" on a selected run: show its step measured next to its prediction.
    void timelineRequested(const QString& database, qint64 run);

private:
    std::vector<RunRecord> selectedRuns() const;

    QString m_path;
    HistoryModel* m_model = nullptr;
    QTableView* m_table = nullptr;
    QLineEdit* m_filter = nullptr;
    QLabel* m_status = nullptr;
    KindCompareChart* m_kinds = nullptr;
    RunTrendChart* m_trend = nullptr;
    QTabWidget* m_charts = nullptr;
    quint64 m_generation = 0;
    quint64 m_compareGeneration = 0;
};

} // namespace shard::ui
