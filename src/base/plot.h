// plot.h — the training curves as an SVG picture, from the JSONL log.
#ifndef TRIT_PLOT_H
#define TRIT_PLOT_H

// Reads the log written by train_run (one JSON object a line: "step" with
// "loss", or "step" with "val_loss") and draws two panels: training loss and
// validation loss (with perplexity on the right axis), against the step.
int plot_training_svg(const char *log_path, const char *svg_path, const char *title, char *err);

#endif
