/*
 * config.h — the public interface of config/: the JSON configuration of
 * ../shared/docs/DESIGN.md read into typed structs, HF_* environment and
 * token resolution as huggingface_hub does it, huggingface_hub's path
 * pattern dialect, and a tolerant JSON reader for files the Trainer wrote.
 * Other folders include only this header. config/ does no I/O beyond
 * reading the files it is asked to read.
 */
#ifndef HUBSYNC_CONFIG_H
#define HUBSYNC_CONFIG_H

#include "common.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* ---- tolerant JSON (trainer files) ------------------------------------- */

/* Parse JSON that may contain the bare literals NaN, Infinity, -Infinity
 * (Python's json.dumps default). They become the JSON strings "NaN",
 * "Infinity", "-Infinity"; read numbers with hs_json_number(). Returns a
 * new reference, or NULL with err filled ("LINE:COL: reason"; columns after
 * a rewritten literal on the same line are shifted by two per literal). */
json_t *hs_json_loads_tolerant(const char *text, size_t len, struct hs_err *err);

/* Same for a file of at most max_bytes (-EFBIG past it); err names the path. */
json_t *hs_json_load_tolerant(const char *path, size_t max_bytes, struct hs_err *err);

/* A number from a tolerant document: a real, an integer, or one of the
 * strings "NaN", "Infinity", "-Infinity". False for anything else. */
bool hs_json_number(const json_t *v, double *out);

#endif
