#pragma once

#include <QWidget>

class QCustomPlot;
class QLabel;
class QLineEdit;
class QTableView;

namespace shard::ui {

class HistoryModel;

// The run store in a table: filter, refresh (read off the UI thread), compare the selected
// runs per op kind (measured against predicted ms per decode step), delete, export CSV.
class HistoryView : public QWidget {
    Q_OBJECT

public:
    explicit HistoryView(QWidget* parent = nullptr);

    void setDatabase(const QString& path); // default: the CLI's run database
    void refresh();
    HistoryModel* model() const { return m_model; }
    QTableView* view() const { return m_table; }
    QCustomPlot* comparePlot() const { return m_plot; }
    void compareSelected();
    bool deleteSelected(bool confirm = true);
    bool exportCsv(const QString& path) const;

signals:
    void refreshed(int runs);

private:
    QString m_path;
    HistoryModel* m_model = nullptr;
    QTableView* m_table = nullptr;
    QLineEdit* m_filter = nullptr;
    QLabel* m_status = nullptr;
    QCustomPlot* m_plot = nullptr;
    quint64 m_generation = 0;
};

} // namespace shard::ui
