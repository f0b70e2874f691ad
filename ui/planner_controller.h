#pragma once

#include "planner/fit_hints.h"
#include "planner/planner.h"
#include "store/prediction_tables.h"

#include <QObject>

#include <memory>

namespace shard::ui {

// The inputs of one planning.
struct PlanningInputs {
    ModelSpec model;
    Topology topology;
    Workload workload;
    TableSource tables = TableSource::Auto; // where kernel times come from
};

// Plans off the UI thread (QtConcurrent) and follows every edit: each request gets a
// generation number and only the newest one's result is delivered, so a slow stale plan
// never overwrites a newer one.
class PlannerController : public QObject {
    Q_OBJECT

public:
    explicit PlannerController(QObject* parent = nullptr);
    ~PlannerController() override;

    void replan(const PlanningInputs& inputs);
    bool busy() const { return m_running > 0; }
    const PlanningInputs& inputs() const { return m_inputs; }
    quint64 generation() const { return m_generation; }
    // When the newest result has no feasible layout: what would make one fit (worked out
    // on the same worker thread, before planned is emitted).
    const std::vector<FitHint>& fitHints() const { return m_fitHints; }

signals:
    void started();
    // The newest request's result, with the time it took (ms, measured on this machine).
    void planned(const shard::PlanResult& result, double milliseconds);
    void failed(const QString& message);

private:
    PlanningInputs m_inputs;
    std::vector<FitHint> m_fitHints;
    quint64 m_generation = 0;
    int m_running = 0;
};

} // namespace shard::ui
