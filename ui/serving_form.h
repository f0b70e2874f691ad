#pragma once

#include "serving_controller.h"

#include <QWidget>

#include <memory>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace shard::ui {

// What a serving search is asked, as the user gives it: the traffic (generated, or a trace
// CSV), the SLO, the GPU and money budgets with the GPU prices, more nodes to deploy on, and
// what to rank by.
class ServingForm : public QWidget {
    Q_OBJECT

public:
    explicit ServingForm(QWidget* parent = nullptr);

    // Fills in everything but the model, machine, dtypes and tables. Bad input (a length
    // or a price that does not parse, a machine that does not load): an Error naming it.
    void fill(ServingInputs& in) const;
    // Traffic from a trace CSV instead of the generated one; false, with the reason in
    // `error`, when it cannot be read (the traffic unchanged).
    bool loadTrace(const QString& path, QString* error);
    void clearTrace();

signals:
    // A trace picked in the file dialog could not be read: why.
    void traceRefused(const QString& reason);

private:
    void setGeneratedTrafficEnabled(bool enabled);

    std::shared_ptr<const std::vector<serving::Request>> m_trace;
    QString m_traceName;
    QDoubleSpinBox* m_rate = nullptr;
    QDoubleSpinBox* m_burstiness = nullptr;
    QLineEdit* m_promptLen = nullptr;
    QLineEdit* m_outputLen = nullptr;
    QSpinBox* m_requests = nullptr;
    QSpinBox* m_sharedPrefix = nullptr;
    QCheckBox* m_prefixCaching = nullptr;
    QLabel* m_traceLabel = nullptr;
    QPushButton* m_loadTrace = nullptr;
    QPushButton* m_clearTrace = nullptr;
    QDoubleSpinBox* m_ttft = nullptr;
    QDoubleSpinBox* m_tpot = nullptr;
    QDoubleSpinBox* m_percentile = nullptr;
    QSpinBox* m_maxGpus = nullptr;
    QDoubleSpinBox* m_maxUsd = nullptr;
    QLineEdit* m_prices = nullptr;
    QComboBox* m_alsoOn = nullptr;
    QComboBox* m_objective = nullptr;
};

} // namespace shard::ui
