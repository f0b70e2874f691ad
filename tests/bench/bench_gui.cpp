// Studio timings (offscreen platform): the window shown with its first ranked candidates,
// and an edit of the model re-ranking Llama-3.1-70B on a DGX H100, edit to table.
// Usage: QT_QPA_PLATFORM=offscreen bench_gui
#include "ui/main_window.h"
#include "ui/model_panel.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace {

// Milliseconds until the window shows a planning, the event loop running meanwhile.
double wait_shown(shard::ui::MainWindow& window, QElapsedTimer& timer)
{
    QEventLoop loop;
    QObject::connect(&window, &shard::ui::MainWindow::candidatesShown, &loop, &QEventLoop::quit);
    loop.exec();
    return double(timer.nsecsElapsed()) / 1e6;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv)
{
    QElapsedTimer startup;
    startup.start();
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("ShardStudioBench"));
    shard::ui::MainWindow window;
    window.show();
    const double first = wait_shown(window, startup);
    std::printf("window shown with the ranked candidates of Llama-3.1-70B on a DGX H100: %.1f ms after start (target < 1000)\n",
                first);
    std::vector<double> edits;
    for (int i = 0; i < 20; ++i) {
        shard::ModelSpec model = window.modelPanel()->model();
        model.layers = 80 + (i % 2); // an edit the planner must re-rank
        QElapsedTimer timer;
        timer.start();
        window.modelPanel()->setModel(model);
        edits.push_back(wait_shown(window, timer));
    }
    std::printf("edit of the model to re-ranked table (median of 20): %.2f ms (target < 100)\n", median(edits));
    return 0;
}
