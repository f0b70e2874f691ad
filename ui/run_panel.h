#pragma once

#include "core/plan.h"

#include <QProcess>
#include <QWidget>

#include <optional>

class QCheckBox;
class QComboBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTemporaryDir;

namespace shard::ui {

// Runs the selected plan for real in a separate process (`shardstudio-cli --json run`, which
// launches shard-engine for the cuda backends), so a crash cannot take the studio down. The
// event stream feeds the progress bar and the log; the CLI stores every event as it arrives,
// a cancelled run as cancelled, a killed one as failed.
class RunPanel : public QWidget {
    Q_OBJECT

public:
    explicit RunPanel(QWidget* parent = nullptr);
    ~RunPanel() override;

    void setPlan(const std::optional<Plan>& plan);
    bool start();
    void cancel();
    bool running() const;
    QString log() const;
    QString backend() const;
    bool setBackend(const QString& backend); // false when that backend is unavailable here
    void setSteps(int steps);
    // Why Run is disabled for this plan and backend, or empty.
    QString blockedReason() const;
    // The run the last start stored (0 until the CLI said) and the database it went to.
    qint64 runId() const { return m_runId; }
    QString database() const { return m_database; }

    // Starts the background check of the cuda backends (once; showing the panel does too).
    void checkCudaBackends();
    bool cudaChecked() const { return m_backendsChecked; }

signals:
    // The background check of the cuda backends finished; `usable`: they can run here.
    void backendsChecked(bool usable);
    void runStarted();
    // "completed", "failed", "cancelled" or "crashed".
    void runFinished(const QString& status);

protected:
    void showEvent(QShowEvent* event) override;

private:
    void readEvents();
    void finished(int exitCode, QProcess::ExitStatus status);
    void append(const QString& line, const QString& color = {});
    void updateAvailability(); // says up front why the chosen backend cannot run this plan

    std::optional<Plan> m_plan;
    QProcess* m_process = nullptr;
    QTemporaryDir* m_dir = nullptr;
    QByteArray m_pending;
    QString m_lastStatus;
    qint64 m_runId = 0;
    bool m_backendsChecked = false;
    bool m_checkStarted = false;
    QString m_database;
    QComboBox* m_backend = nullptr;
    QComboBox* m_dtype = nullptr;
    QCheckBox* m_graphs = nullptr; // cuda backends: decode steps replay a CUDA graph
    QCheckBox* m_overlap = nullptr; // cuda backends: communication overlapped with compute
    QSpinBox* m_steps = nullptr;
    QPushButton* m_start = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_planLabel = nullptr;
    QLabel* m_blocked = nullptr;
    QPlainTextEdit* m_log = nullptr;
};

} // namespace shard::ui
