#include "planner_controller.h"

#include "store/prediction_tables.h"
#include "store/run_store.h"

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>

namespace shard::ui {

namespace {

struct Outcome {
    PlanResult result;
    QString error;
    double ms = 0;
    std::vector<FitHint> hints;
};

} // namespace

PlannerController::PlannerController(QObject* parent)
    : QObject(parent)
{ }

PlannerController::~PlannerController() = default;

void PlannerController::replan(const PlanningInputs& inputs)
{
    m_inputs = inputs;
    const quint64 generation = ++m_generation;
    ++m_running;
    emit started();
    auto* watcher = new QFutureWatcher<Outcome>(this);
    connect(watcher, &QFutureWatcher<Outcome>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        --m_running;
        if (generation != m_generation)
            return; // a newer edit is being planned: drop this one
        const Outcome outcome = watcher->result();
        m_fitHints = outcome.hints;
        if (!outcome.error.isEmpty())
            emit failed(outcome.error);
        else
            emit planned(outcome.result, outcome.ms);
    });
    watcher->setFuture(QtConcurrent::run([inputs] {
        Outcome outcome;
        QElapsedTimer timer;
        timer.start();
        try {
            PlannerOptions options;
            options.objective = inputs.workload.objective;
            // This machine's profile of the GPU kind, or the shipped tables with the corrections
            // completed CUDA runs in the run database fitted for it, as the user chose.
            options.efficiency = prediction_efficiency(inputs.topology.gpu, RunStore::default_path(), inputs.tables);
            outcome.result = plan_candidates(inputs.model, inputs.topology, inputs.workload, options);
            outcome.ms = double(timer.nsecsElapsed()) / 1e6;
            if (outcome.result.feasible == 0)
                outcome.hints = fit_hints(inputs.model, inputs.topology, inputs.workload, options);
        } catch (const std::exception& e) {
            outcome.error = QString::fromUtf8(e.what());
        }
        if (outcome.ms == 0)
            outcome.ms = double(timer.nsecsElapsed()) / 1e6;
        return outcome;
    }));
}

} // namespace shard::ui
