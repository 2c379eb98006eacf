/*
 * state.h — the public interface of state/: hubsync's durable state under
 * <state_dir> — the append-only journal (journal.h), the model replayed from
 * it and written through it (jstate.h), and the one-process lock on the
 * state_dir (statelock.h). Code outside state/ includes only this header.
 */
#ifndef HUBSYNC_STATE_H
#define HUBSYNC_STATE_H

#include "jstate.h"
#include "statelock.h"

#endif
