/*
 * writers.h — small in-process trainers for the watcher tests, each writing
 * saves in the order docs/trainer-layouts.md describes (Trainer,
 * Accelerate, Lightning, DeepSpeed), with rotation, other ranks writing
 * after rank 0's marker, and the 4.36-era tmp-checkpoint rename.
 */
#ifndef HS_TEST_WATCHER_WRITERS_H
#define HS_TEST_WATCHER_WRITERS_H

#include "harness.h"

struct trainer_plan {
    int saves, save_steps;
    unsigned world;
    int save_total_limit; /* 0 = keep all */
    bool sharded_every_other;
    bool staged_every_third; /* tmp-checkpoint-N then rename */
    bool final_save;         /* model files at the root at the end */
    int pause_ms;            /* "training" between saves */
};

/* Write one Trainer checkpoint-N (declared when t != NULL... always declared
 * when declare is true). Returns the save record or NULL. */
struct wt_save *write_trainer_save(struct wt *t, int step, unsigned world, bool sharded,
                                   bool staged, bool declare, bool with_marker);
void *trainer_writer(void *arg); /* uses the plan in trainer_writer_plan */
extern struct trainer_plan trainer_writer_plan;

void *accelerate_writer(void *arg);
void *lightning_writer(void *arg);
void *deepspeed_writer(void *arg);

#endif
