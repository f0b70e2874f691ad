#include "serving_controller.h"

#include "store/run_store.h"

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

namespace shard::ui {

namespace {

struct SearchOutcome {
    serving::SearchResult result;
    QString error;
    double ms = 0;
};

} // namespace

std::vector<serving::Request> ServingInputs::requests() const
{
    return trace ? *trace : serving::generate_requests(traffic);
}

std::vector<serving::Machine> ServingInputs::machines() const
{
    std::vector<serving::Machine> all{
        {topology, prediction_efficiency(topology.gpu, RunStore::default_path(), tables)}};
    if (also_on && !(*also_on == topology))
        all.push_back({*also_on, prediction_efficiency(also_on->gpu, RunStore::default_path(), tables)});
    return all;
}

ServingController::ServingController(QObject* parent)
    : QObject(parent)
{ }

ServingController::~ServingController()
{
    cancel();
}

void ServingController::cancel()
{
    if (m_cancel)
        m_cancel->store(true);
}

void ServingController::search(const ServingInputs& inputs)
{
    cancel();
    m_inputs = inputs;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    const quint64 generation = ++m_generation;
    ++m_running;
    auto* watcher = new QFutureWatcher<SearchOutcome>(this);
    connect(watcher, &QFutureWatcher<SearchOutcome>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        --m_running;
        if (generation != m_generation)
            return; // a newer search replaced it
        const SearchOutcome outcome = watcher->result();
        if (!outcome.error.isEmpty())
            emit failed(outcome.error);
        else
            emit searched(outcome.result, outcome.ms);
    });
    QPointer<ServingController> self(this);
    auto cancel_flag = m_cancel;
    watcher->setFuture(QtConcurrent::run([inputs, cancel_flag, self, generation] {
        SearchOutcome outcome;
        QElapsedTimer timer;
        timer.start();
        try {
            serving::SearchSpace space = inputs.space;
            space.dtype = inputs.dtype;
            space.kv_dtype = inputs.kv_dtype;
            outcome.result = serving::search_deployments(
                inputs.model, inputs.machines(), inputs.requests(), inputs.slo, space, inputs.objective,
                [self, generation](const serving::SearchProgress& p) {
                    // Back to the UI thread, queued: the worker never touches a widget.
                    QMetaObject::invokeMethod(
                        self,
                        [self, generation, p] {
                            if (self && generation == self->m_generation)
                                emit self->progress(p.done, p.total, QString::fromStdString(p.current));
                        },
                        Qt::QueuedConnection);
                },
                cancel_flag.get());
        } catch (const std::exception& e) {
            outcome.error = QString::fromUtf8(e.what());
        }
        outcome.ms = double(timer.nsecsElapsed()) / 1e6;
        return outcome;
    }));
}

void ServingController::detail(const serving::DeploymentOption& option)
{
    const ServingInputs inputs = m_inputs;
    const quint64 generation = m_generation;
    auto* watcher = new QFutureWatcher<ServingDetail>(this);
    connect(watcher, &QFutureWatcher<ServingDetail>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation == m_generation)
            emit detailed(watcher->result());
    });
    watcher->setFuture(QtConcurrent::run([inputs, option] {
        ServingDetail d;
        d.option = option;
        try {
            d.run = serving::simulate_option(inputs.model, inputs.machines(), option, inputs.requests(), inputs.dtype,
                                             inputs.kv_dtype)
                        .merged;
        } catch (const std::exception&) {
            // The search simulated it a moment ago: a failure here leaves the charts empty.
        }
        return d;
    }));
}

} // namespace shard::ui
