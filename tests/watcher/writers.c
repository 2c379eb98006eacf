/*
 * writers.c — see writers.h. Sizes are small (tens to hundreds of KiB) but
 * the bigger files are written in 16 KiB chunks with pauses, so a detector
 * that fires early sees short files and the test catches it.
 */
#include "writers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct trainer_plan trainer_writer_plan;

struct wt_save *write_trainer_save(struct wt *t, int step, unsigned world, bool sharded,
                                   bool staged, bool declare, bool with_marker)
{
    char id[64], dir[512], state[512];
    snprintf(id, sizeof(id), "checkpoint-%d", step);
    snprintf(dir, sizeof(dir), "%s/%s%s", t->root, staged ? "tmp-" : "", id);
    struct wt_save *s = declare ? wt_declare(t, id) : NULL;
    wt_write_text(s, dir, "config.json", NULL, "{\"model_type\": \"bert\", \"hidden_size\": 64}\n");
    wt_write_text(s, dir, "generation_config.json", NULL, "{\"max_length\": 20}\n");
    if (sharded) {
        wt_write(s, dir, "model-00001-of-00002.safetensors", NULL, 150000);
        wt_write(s, dir, "model-00002-of-00002.safetensors", NULL, 90000);
        wt_write_text(s, dir, "model.safetensors.index.json", NULL,
                      "{\"metadata\": {\"total_size\": 240000}, \"weight_map\": {"
                      "\"a.weight\": \"model-00001-of-00002.safetensors\","
                      "\"b.weight\": \"model-00002-of-00002.safetensors\"}}\n");
    } else {
        wt_write(s, dir, "model.safetensors", NULL, 200000 + (uint64_t)step);
    }
    wt_write(s, dir, "tokenizer.json", NULL, 30000);
    wt_write_text(s, dir, "tokenizer_config.json", NULL, "{\"do_lower_case\": false}\n");
    wt_write_text(s, dir, "special_tokens_map.json", NULL, "{\"cls_token\": \"[CLS]\"}\n");
    wt_write(s, dir, "training_args.bin", NULL, 5000);
    wt_write(s, dir, "optimizer.pt", NULL, 300000);
    wt_write(s, dir, "scheduler.pt", NULL, 1000);
    if (world <= 1)
        wt_write(s, dir, "rng_state.pth", NULL, 14000);
    else
        wt_write(s, dir, "rng_state_0.pth", NULL, 14000);
    if (!with_marker)
        return s;
    snprintf(state, sizeof(state),
             "{\n  \"best_metric\": NaN,\n  \"epoch\": %d.5,\n  \"global_step\": %d,\n"
             "  \"log_history\": [{\"loss\": Infinity, \"step\": %d}],\n  \"max_steps\": 1000\n}\n",
             step / 10, step, step);
    wt_write_text(s, dir, "trainer_state.json", NULL, state);
    if (staged) {
        char final[512];
        snprintf(final, sizeof(final), "%s/%s", t->root, id);
        assert_int_equal(rename(dir, final), 0);
        snprintf(dir, sizeof(dir), "%s", final);
    }
    if (s)
        wt_marker(t, s);
    for (unsigned r = 1; r < world; r++) {
        char name[64];
        usleep(30000); /* other ranks: no barrier before the next step */
        snprintf(name, sizeof(name), "rng_state_%u.pth", r);
        wt_write(s, dir, name, NULL, 14000);
    }
    return s;
}

void *trainer_writer(void *arg)
{
    struct wt *t = arg;
    const struct trainer_plan *p = &trainer_writer_plan;
    mkdir(t->root, 0755);
    for (int i = 1; i <= p->saves; i++) {
        int step = i * p->save_steps;
        bool sharded = p->sharded_every_other && i % 2 == 0;
        bool staged = p->staged_every_third && i % 3 == 0;
        write_trainer_save(t, step, p->world, sharded, staged, true, true);
        if (p->save_total_limit == 1 && i > 1) {
            char old[512];
            snprintf(old, sizeof(old), "%s/checkpoint-%d", t->root, step - p->save_steps);
            wt_rm_rf(old); /* _rotate_checkpoints right after the save */
        }
        usleep((useconds_t)p->pause_ms * 1000);
    }
    if (p->final_save) {
        wt_write_text(NULL, t->root, "config.json", NULL, "{\"model_type\": \"bert\"}\n");
        wt_write(NULL, t->root, "model.safetensors", NULL, 120000);
        wt_write_text(NULL, t->root, "trainer_state.json", NULL, "{\"global_step\": 1}\n");
        wt_write_text(NULL, t->root, "README.md", NULL, "# model\n");
    }
    t->writer_done = true;
    return NULL;
}

void *accelerate_writer(void *arg)
{
    struct wt *t = arg;
    for (int i = 0; i < 4; i++) {
        char id[64], dir[512], old[512];
        if (i > 0) { /* total_limit=1 deletes before saving */
            snprintf(old, sizeof(old), "%s/checkpoints/checkpoint_%d", t->root, i - 1);
            wt_rm_rf(old);
        }
        snprintf(id, sizeof(id), "checkpoints/checkpoint_%d", i);
        snprintf(dir, sizeof(dir), "%s/%s", t->root, id);
        struct wt_save *s = wt_declare(t, id);
        wt_write(s, dir, "model.safetensors", NULL, 180000);
        wt_write(s, dir, "optimizer.bin", NULL, 250000);
        wt_write(s, dir, "scheduler.bin", NULL, 900);
        wt_write(s, dir, "sampler.bin", NULL, 700);
        wt_write(s, dir, "random_states_0.pkl", NULL, 15000);
        wt_marker(t, s);
        for (unsigned r = 1; r < t->o.world_size; r++) {
            char name[64];
            usleep(30000); /* other processes: no barrier */
            snprintf(name, sizeof(name), "random_states_%u.pkl", r);
            wt_write(s, dir, name, NULL, 15000);
        }
        usleep(20000);
        wt_write(s, dir, "custom_checkpoint_0.pkl", NULL, 3000);
        usleep(400000); /* training until the next save */
    }
    t->writer_done = true;
    return NULL;
}

void *lightning_writer(void *arg)
{
    struct wt *t = arg;
    char dir[512], prev[640] = "";
    snprintf(dir, sizeof(dir), "%s/lightning_logs/version_0/checkpoints", t->root);
    wt_write_text(NULL, t->root, "lightning_logs/version_0/hparams.yaml", NULL, "lr: 0.001\n");
    for (int k = 0; k < 4; k++) {
        char name[128], id[512], path[640], tmp[640];
        snprintf(name, sizeof(name), "epoch=%d-step=%d.ckpt", k, (k + 1) * 10);
        snprintf(id, sizeof(id), "lightning_logs/version_0/checkpoints/%s", name);
        struct wt_save *s = wt_declare(t, id);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (k % 2 == 0) {
            /* Lightning >= 2.4: a temp file outside the checkpoint dir, renamed in */
            snprintf(tmp, sizeof(tmp), "%s/tmpckpt%d", t->dir, k);
            wt_write(s, t->dir, tmp + strlen(t->dir) + 1, name, 260000);
            mkdir(dir, 0755);
            assert_int_equal(rename(tmp, path), 0);
        } else {
            wt_write(s, dir, name, NULL, 260000); /* before 2.4: in place */
        }
        wt_marker(t, s);
        /* save_last="link": last.ckpt -> newest; top-k 1 drops the previous */
        char last[640];
        snprintf(last, sizeof(last), "%s/last.ckpt", dir);
        unlink(last);
        assert_int_equal(symlink(name, last), 0);
        if (prev[0])
            unlink(prev);
        snprintf(prev, sizeof(prev), "%s", path);
        usleep(250000); /* an epoch of training */
    }
    wt_write_text(NULL, t->root, "lightning_logs/version_0/metrics.csv", NULL, "epoch,loss\n");
    t->writer_done = true;
    return NULL;
}

void *deepspeed_writer(void *arg)
{
    struct wt *t = arg;
    mkdir(t->root, 0755);
    for (int k = 1; k <= 3; k++) {
        char id[64], latest[64];
        snprintf(id, sizeof(id), "global_step%d", k * 50);
        struct wt_save *s = wt_declare(t, id);
        char rel[256];
        snprintf(rel, sizeof(rel), "%s/mp_rank_00_model_states.pt", id);
        wt_write(s, t->root, rel, NULL, 200000);
        snprintf(rel, sizeof(rel), "%s/zero_pp_rank_0_mp_rank_00_optim_states.pt", id);
        wt_write(s, t->root, rel, NULL, 150000);
        wt_write_text(s, t->root, "zero_to_fp32.py", NULL, "#!/usr/bin/env python\n");
        snprintf(latest, sizeof(latest), "%s", id);
        wt_write_text(s, t->root, "latest", NULL, latest);
        wt_marker(t, s);
        for (unsigned r = 1; r < t->o.world_size; r++) {
            usleep(40000); /* rank r finishes after rank 0 wrote latest */
            snprintf(rel, sizeof(rel), "%s/zero_pp_rank_%u_mp_rank_00_optim_states.pt", id, r);
            wt_write(s, t->root, rel, NULL, 150000);
        }
        usleep(450000); /* the next save rewrites latest: let READY come first */
    }
    t->writer_done = true;
    return NULL;
}
