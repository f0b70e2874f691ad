#pragma once

#include "planner/planner.h"

#include <QWidget>

class QTextBrowser;

namespace shard::ui {

// The selected candidate in words and numbers: where its memory goes, how its step time
// splits, and the collectives of one decode step with their groups. Everything predicted.
class CandidateDetails : public QWidget {
    Q_OBJECT

public:
    explicit CandidateDetails(QWidget* parent = nullptr);
    void showCandidate(const Candidate* candidate, const Topology& topology);
    QString text() const;

private:
    QTextBrowser* m_text = nullptr;
};

} // namespace shard::ui
