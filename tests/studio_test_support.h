#pragma once

// Helpers the studio's Qt Test suites share.
#include "ui/candidates_model.h"
#include "ui/main_window.h"
#include "ui/model_panel.h"
#include "ui/workload_panel.h"

#include <QSignalSpy>
#include <QtTest>

namespace shard::test {

// Waits for a window's first planning, then plans tiny-dense on a DGX H100 (batch 8,
// prompt 32, 16 generated tokens) and selects the TP8 candidate: small enough for the CPU
// backend to run in a second.
inline void selectTinyTp8(ui::MainWindow& window)
{
    QSignalSpy shown(&window, &ui::MainWindow::candidatesShown);
    QVERIFY(shown.wait(20000));
    Workload w;
    w.batch = 8;
    w.prompt = 32;
    w.generate = 16;
    window.workloadPanel()->setWorkload(w);
    shown.clear();
    window.modelPanel()->selectPreset(QStringLiteral("tiny-dense"));
    QTRY_VERIFY_WITH_TIMEOUT(!window.planner()->busy() && !shown.isEmpty(), 20000);
    for (int i = 0; i < window.candidatesModel()->rowCount(); ++i)
        if (window.candidatesModel()->candidate(i)->strategy.label() == "TP8")
            window.selectCandidate(i);
    QCOMPARE(window.candidatesModel()->candidate(window.selectedCandidate())->strategy.label(), std::string("TP8"));
}

} // namespace shard::test
