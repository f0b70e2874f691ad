#pragma once

#include <QDialog>

namespace shard::ui {

// Help > About: the version, what the numbers come from, and the licenses of the data and
// libraries the studio ships with.
class AboutDialog : public QDialog {
    Q_OBJECT

public:
    explicit AboutDialog(QWidget* parent = nullptr);
    QString text() const; // the shown text, plain, for tests
};

} // namespace shard::ui
