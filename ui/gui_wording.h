// What the window says instead of the command line's words. The pipeline's messages, hints and
// warnings are written for the CLI and name its flags ("further failures are logged with
// --verbose only", "pass another --model"); the GUI has no flags, so before it shows such a
// text it replaces each flag phrase with where the same choice is made in the window (a field
// of File ▸ Settings) or, for what only the configuration file holds, that file. The CLI keeps
// its own wording: the pipeline's texts are unchanged.
#pragma once

#include <QString>
#include <QStringList>

namespace clipmind::ui {

// `text` (a pipeline message, hint or warning) in the GUI's words; unchanged when it names no
// command-line flag the GUI knows a place for.
QString gui_wording(const QString& text);

// The command-line phrases gui_wording() replaces, each exactly as pipeline/, compress/ or
// models/ writes it: a test checks that those sources still do, since a reworded message would
// otherwise reach the window with its flags again.
QStringList gui_wording_cli_phrases();

// The configuration file the GUI's base settings come from ($CLIPMIND_CONFIG, else the user's
// config.json), for texts that point there.
QString gui_config_file();

}  // namespace clipmind::ui
