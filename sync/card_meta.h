/*
 * card_meta.h — part of sync/ (sync.h): a job's "model_card" config as
 * modelcard/ metadata, shared by `hubsync card` and the finish step.
 */
#ifndef HUBSYNC_SYNC_CARD_META_H
#define HUBSYNC_SYNC_CARD_META_H

#include "config.h"
#include "modelcard.h"

/* Fill m (zeroed first) from the model_card object as config/ read it:
 * mode, model_name (NULL when unset), base_model (every one of a list),
 * datasets, dataset_args, dataset_config, dataset_name, the framework
 * versions, language, license, tags, task, metrics_order.
 * -ENOMEM; free with modelcard_meta_free() in every case. */
int card_meta_from_config(const struct config_model_card *c, struct modelcard_meta *m);

/* The same for job, plus its defaults: model_name (the name part of
 * hub_model_id, as push_to_hub passes the repo name) and world_size for
 * the hyperparameters. */
int card_meta_from_job(const struct config_job *job, struct modelcard_meta *m);

#endif
