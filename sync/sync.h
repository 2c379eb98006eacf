/*
 * sync.h — the public interface of sync/: what happens to one configured
 * job's saves between the watcher reporting them and the Hub holding them —
 * the job and its queue (job.h), what each commit holds under each
 * hub_strategy (strategy.h), and the model card metadata of the finish
 * commit (card_meta.h). Code outside sync/ includes only this header.
 */
#ifndef HUBSYNC_SYNC_H
#define HUBSYNC_SYNC_H

#include "card_meta.h"
#include "job.h"
#include "strategy.h"

#endif
