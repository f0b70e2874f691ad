#pragma once

#include "serving_controller.h"

#include "serving/launch_export.h"

#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QStandardItemModel;
class QTableView;

namespace shard::ui {

class ServingCharts;
class ServingForm;

// The Serving tab: a traffic (rate, burstiness, prompt and output lengths) and an SLO for the
// model and machine the studio plans for; a search off the UI thread (progress, cancel) over
// deployments; the ranked deployments with their simulated percentiles, goodput, GPUs and
// cost; the charts of the selected one; its launch and benchmark commands.
class ServingView : public QWidget {
    Q_OBJECT

public:
    explicit ServingView(QWidget* parent = nullptr);

    // The model, machine, dtypes and table source the studio currently plans with.
    void setDeploymentBase(const ModelSpec& model, const Topology& topology, DType dtype, DType kv_dtype,
                           TableSource tables);
    ServingInputs inputs() const;
    void startSearch();
    void cancelSearch();
    bool selectDeployment(int row);
    int deploymentCount() const;
    QString launchText() const;
    QString statusText() const;
    // Traffic from a trace CSV instead of the generated one; false (the reason in the status
    // line, the traffic unchanged) when it cannot be read.
    bool loadTrace(const QString& path);
    void clearTrace();
    // Writes the selected deployment's launch commands for every engine to `path` (a shell
    // script) and the simulated requests beside it (<path>.replay.jsonl) for the exact replay.
    bool saveLaunch(const QString& path);
    ServingController* controller() const { return m_controller; }
    ServingCharts* charts() const { return m_charts; }
    QTableView* table() const { return m_table; }

signals:
    void searchFinished(int deployments);

private:
    void showResult(const serving::SearchResult& result, double ms);
    void showDetail(const ServingDetail& detail);
    std::vector<serving::LaunchCommands> launchCommands(const std::string& replay_file) const;

    ModelSpec m_model;
    Topology m_topology;
    DType m_dtype = DType::BF16, m_kvDtype = DType::BF16;
    TableSource m_tables = TableSource::Auto;
    serving::SearchResult m_result;
    std::optional<serving::DeploymentOption> m_shown; // the deployment the launch text is for
    ServingController* m_controller = nullptr;
    ServingForm* m_form = nullptr;
    QPushButton* m_saveLaunch = nullptr;
    QPushButton* m_search = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_status = nullptr;
    QTableView* m_table = nullptr;
    QStandardItemModel* m_rows = nullptr;
    ServingCharts* m_charts = nullptr;
    QComboBox* m_engine = nullptr;
    QPlainTextEdit* m_launch = nullptr;
};

} // namespace shard::ui
