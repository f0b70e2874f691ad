#pragma once

#include "core/workload.h"

#include <QWidget>

class QComboBox;
class QSpinBox;

namespace shard::ui {

// What the plan serves: phase, batch, prompt and generated tokens, dtypes, and what to rank by.
class WorkloadPanel : public QWidget {
    Q_OBJECT

public:
    explicit WorkloadPanel(QWidget* parent = nullptr);

    Workload workload() const;
    void setWorkload(const Workload& workload);

signals:
    void workloadChanged(const shard::Workload& workload);

private:
    bool m_updating = false;
    QComboBox* m_phase = nullptr;
    QSpinBox* m_batch = nullptr;
    QSpinBox* m_prompt = nullptr;
    QSpinBox* m_generate = nullptr;
    QComboBox* m_dtype = nullptr;
    QComboBox* m_kvDtype = nullptr;
    QComboBox* m_objective = nullptr;
};

} // namespace shard::ui
