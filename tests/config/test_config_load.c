/*
 * test_config_load.c — config/config_load.c: a table of bad configs, each
 * with the exact messages expected (all problems at once, JSON paths,
 * line:col for syntax errors, did-you-mean), every default of docs/design.md,
 * environment-dependent defaults through a fake environment, the
 * inline-token file-mode rule on real files, and `run`'s WORLD_SIZE step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a fake environment ------------------------------------------------ */

static const char *fake_vars[16][2];

static const char *fake_env(const char *name)
{
    for (size_t i = 0; i < HS_ARRAY_SIZE(fake_vars) && fake_vars[i][0]; i++)
        if (strcmp(fake_vars[i][0], name) == 0)
            return fake_vars[i][1];
    return NULL;
}

static void env_reset(void)
{
    memset(fake_vars, 0, sizeof(fake_vars));
    fake_vars[0][0] = "HOME";
    fake_vars[0][1] = "/home/u";
}

static void env_set(const char *k, const char *v)
{
    size_t i = 0;
    while (fake_vars[i][0] && strcmp(fake_vars[i][0], k) != 0)
        i++;
    fake_vars[i][0] = k;
    fake_vars[i][1] = v;
}

static int load(const char *text, struct config **cfg, struct config_errors *errs)
{
    return config_load_text("hubsync.json", text, strlen(text), 0600, fake_env, cfg, errs);
}

#define JOB "{\"name\":\"j\",\"watch\":\"/w\",\"hub_model_id\":\"o/m\""

/* ---- bad configs: exact messages --------------------------------------- */

static const struct {
    const char *text;
    const char *msgs[6];
} bad[] = {
    {"{\"jobs\": [" JOB ", \"hub_strategy\": \"every-save\"}]}",
     {"hubsync.json: jobs[0].hub_strategy: \"every-save\" is not one of end, every_save, "
      "checkpoint, all_checkpoints"}},
    {"{\n  \"jobs\": [\n    {\"name\": x}\n  ]\n}\n",
     {"hubsync.json:3:14: invalid token near 'x'"}},
    {"{\"jobs\": [" JOB "}], \"jobs\": []}",
     {"hubsync.json:1:65: duplicate object key near '\"jobs\"'"}},
    {"", {"hubsync.json:1:0: '[' or '{' expected near end of file"}},
    /* a long excerpt near a syntax error is dropped: it could be a token */
    {"{\"token\": abcdefghijklmnopqrstuvwxyz}", {"hubsync.json:1:36: invalid token"}},
    {"{\"token\": \"hf_abc\ndef\"}", {"hubsync.json:1:17: unexpected newline"}},
    {"[]", {"hubsync.json: the top level must be a JSON object, got an array"}},
    {"{}", {"hubsync.json: missing required key \"jobs\" (an array with at least one job)"}},
    {"{\"jobs\": []}", {"hubsync.json: jobs: at least one job is required"}},
    {"{\"jobs\": {}}", {"hubsync.json: jobs: expected an array of jobs, got an object"}},
    {"{\"jobs\": [3]}", {"hubsync.json: jobs[0]: expected an object, got an integer"}},
    {"{\"jobs\": [{}]}",
     {"hubsync.json: jobs[0]: missing required key \"name\"",
      "hubsync.json: jobs[0]: missing required key \"watch\"",
      "hubsync.json: jobs[0]: missing required key \"hub_model_id\""}},
    {"{\"jobz\": [], \"jobs\": [" JOB ", \"hub_stratgy\": \"end\", \"Private\": true, "
     "\"seed\": 1}]}",
     {"hubsync.json: jobz: unknown key (did you mean \"jobs\"?)",
      "hubsync.json: jobs[0].hub_stratgy: unknown key (did you mean \"hub_strategy\"?)",
      "hubsync.json: jobs[0].Private: unknown key (did you mean \"private\"?)",
      "hubsync.json: jobs[0].seed: unknown key"}},
    {"{\"watch\": \"/x\", \"jobs\": [" JOB ", \"state_dir\": \"/s\"}]}",
     {"hubsync.json: watch: unknown key here (it belongs in a job, inside \"jobs\")",
      "hubsync.json: jobs[0].state_dir: unknown key here (it belongs at the top level, not in a "
      "job)"}},
    {"{\"max_parallel_uploads\": 0, \"bandwidth_limit_mbps\": -1, \"jobs\": [" JOB "}]}",
     {"hubsync.json: max_parallel_uploads: 0 is out of range 1..64",
      "hubsync.json: bandwidth_limit_mbps: -1 is out of range: must be >= 0 and at most "
      "1000000"}},
    {"{\"max_parallel_uploads\": 65, \"jobs\": [" JOB "}]}",
     {"hubsync.json: max_parallel_uploads: 65 is out of range 1..64"}},
    {"{\"max_parallel_uploads\": \"8\", \"jobs\": [" JOB "}]}",
     {"hubsync.json: max_parallel_uploads: expected an integer, got a string"}},
    {"{\"max_parallel_uploads\": 8.5, \"jobs\": [" JOB "}]}",
     {"hubsync.json: max_parallel_uploads: expected an integer, got a number"}},
    {"{\"log_level\": \"verbose\", \"jobs\": [" JOB "}]}",
     {"hubsync.json: log_level: \"verbose\" is not one of error, warn, info, debug"}},
    {"{\"token\": \"hf_x\", \"token_file\": \"/t\", \"jobs\": [" JOB "}]}",
     {"hubsync.json: \"token\" and \"token_file\" are both set; keep one"}},
    {"{\"token_file\": \"t\", \"state_dir\": \"s\", \"ca_file\": \"\", \"log_file\": 1, "
     "\"jobs\": [" JOB "}]}",
     {"hubsync.json: token_file: \"t\" is not an absolute path",
      "hubsync.json: state_dir: \"s\" is not an absolute path",
      "hubsync.json: ca_file: must not be empty",
      "hubsync.json: log_file: expected a string, got an integer"}},
    {"{\"endpoint\": \"ftp://h\", \"jobs\": [" JOB "}]}",
     {"hubsync.json: endpoint: \"ftp://h\" is not an http:// or https:// URL with a host"}},
    {"{\"jobs\": [{\"name\": \"a b\", \"watch\": 5, \"hub_model_id\": \"a--b\"}]}",
     {"hubsync.json: jobs[0].name: \"a b\" may contain only letters, digits, '.', '_' and '-'",
      "hubsync.json: jobs[0].watch: expected a string, got an integer",
      "hubsync.json: jobs[0].hub_model_id: \"a--b\" is not a valid repo id: it contains \"--\""}},
    {"{\"jobs\": [{\"name\": \"\", \"watch\": \"/w\", \"hub_model_id\": \"o/m/x\"}]}",
     {"hubsync.json: jobs[0].name: must not be empty",
      "hubsync.json: jobs[0].hub_model_id: \"o/m/x\" must be \"name\" or \"namespace/name\" (at "
      "most one '/')"}},
    {"{\"jobs\": [" JOB ", \"revision\": \"a b\", \"private\": \"yes\", \"layout\": \"hf\", "
     "\"watch_mode\": \"fanotify\", \"existing_checkpoints\": \"some\"}]}",
     {"hubsync.json: jobs[0].private: expected true or false, got a string",
      "hubsync.json: jobs[0].revision: \"a b\" is not a valid branch name: it contains a space, a "
      "control character or one of ~^:?*[\\",
      "hubsync.json: jobs[0].layout: \"hf\" is not one of auto, trainer, accelerate, lightning, "
      "deepspeed, generic",
      "hubsync.json: jobs[0].watch_mode: \"fanotify\" is not one of auto, inotify, poll",
      "hubsync.json: jobs[0].existing_checkpoints: \"some\" is not one of latest, all, none"}},
    {"{\"jobs\": [" JOB ", \"poll_interval_seconds\": 0, \"settle_seconds\": -1, "
     "\"marker_quiet_seconds\": -0.5, \"finish_after_idle_seconds\": 1e9, \"world_size\": 0}]}",
     {"hubsync.json: jobs[0].poll_interval_seconds: 0 is out of range: must be > 0 and at most "
      "2592000",
      "hubsync.json: jobs[0].settle_seconds: -1 is out of range: must be > 0 and at most 2592000",
      "hubsync.json: jobs[0].marker_quiet_seconds: -0.5 is out of range: must be >= 0 and at "
      "most 2592000",
      "hubsync.json: jobs[0].world_size: 0 is out of range 1..65536",
      "hubsync.json: jobs[0].finish_after_idle_seconds: 1000000000 is out of range: must be >= 0 "
      "and at most 2592000"}},
    {"{\"jobs\": [" JOB ", \"include\": [], \"exclude\": [\"/abs\", \"\", 3]}]}",
     {"hubsync.json: jobs[0].include: an empty list would upload nothing; leave \"include\" out "
      "to upload everything ([\"*\"])",
      "hubsync.json: jobs[0].exclude[1]: must not be empty",
      "hubsync.json: jobs[0].exclude[2]: expected a string, got an integer"}},
    {"{\"jobs\": [" JOB ", \"include\": \"*.bin\", \"exclude\": [\"./x\"]}]}",
     {"hubsync.json: jobs[0].include: expected an array of strings, got a string",
      "hubsync.json: jobs[0].exclude[0]: \"./x\" can never match: patterns match repo-relative "
      "paths such as \"model.safetensors\" or \"runs/\""}},
    {"{\"jobs\": [" JOB ", \"pid\": 0, \"spool_dir\": \"s\", \"spool_max_gb\": -2}]}",
     {"hubsync.json: jobs[0].spool_dir: \"s\" is not an absolute path",
      "hubsync.json: jobs[0].spool_max_gb: -2 is out of range: must be >= 0 and at most 1000000",
      "hubsync.json: jobs[0].pid: 0 is out of range 1..4194304"}},
    {"{\"jobs\": [" JOB ", \"lost_saves_fail_run\": 1, \"final_push_timeout_minutes\": -1}]}",
     {"hubsync.json: jobs[0].lost_saves_fail_run: expected true or false, got an integer",
      "hubsync.json: jobs[0].final_push_timeout_minutes: -1 is out of range: must be >= 0 and at "
      "most 43200"}},
    {"{\"jobs\": [" JOB ", \"pid\": 10, \"pid_file\": \"/run/x.pid\"}]}",
     {"hubsync.json: jobs[0]: \"pid\" and \"pid_file\" are both set; keep one"}},
    {"{\"jobs\": [" JOB ", \"model_card\": {\"mode\": \"full\", \"licence\": \"mit\", "
     "\"datasets\": 3, \"metrics_order\": \"f1\"}}]}",
     {"hubsync.json: jobs[0].model_card.licence: unknown key (did you mean \"license\"?)",
      "hubsync.json: jobs[0].model_card.mode: \"full\" is not one of merge, overwrite, off",
      "hubsync.json: jobs[0].model_card.datasets: expected a string or an array of strings, got "
      "an integer",
      "hubsync.json: jobs[0].model_card.metrics_order: expected an array of strings, got a "
      "string"}},
    {"{\"jobs\": [" JOB ", \"model_card\": {\"datasets\": \"glue\", \"dataset_tags\": \"glue\", "
     "\"dataset_args\": [\"mrpc\", \"sst2\"], \"dataset_config\": 1, "
     "\"framework_versions\": {\"torch\": \"2.2\", \"datasets\": \"\"}}}]}",
     {"hubsync.json: jobs[0].model_card.dataset_tags: \"datasets\" and \"dataset_tags\" are the "
      "same key: give one",
      "hubsync.json: jobs[0].model_card.dataset_args: 2 values for 1 dataset tag: give one per tag "
      "of \"datasets\" (\"dataset_tags\"), in the same order",
      "hubsync.json: jobs[0].model_card.dataset_config: expected a string or an array of strings, "
      "got an integer",
      "hubsync.json: jobs[0].model_card.framework_versions.torch: unknown key",
      "hubsync.json: jobs[0].model_card.framework_versions.datasets: must not be empty"}},
    {"{\"jobs\": [" JOB ", \"model_card\": []}]}",
     {"hubsync.json: jobs[0].model_card: expected an object, got an array"}},
    {"{\"jobs\": [" JOB "}, {\"name\": \"j\", \"watch\": \"/w/sub\", \"hub_model_id\": "
     "\"o/m\"}]}",
     {"hubsync.json: jobs[1].name: \"j\" is already the name of jobs[0]",
      "hubsync.json: jobs[1].watch: \"/w/sub\" and jobs[0].watch \"/w\" are inside one another",
      "hubsync.json: jobs[1].hub_model_id: \"o/m\" (revision main) is also the target of jobs[0]; "
      "the two jobs would overwrite each other's files"}},
    {"{\"jobs\": [" JOB "}, {\"name\": \"k\", \"watch\": \"/w/\", \"hub_model_id\": \"o/m\", "
     "\"revision\": \"dev\"}]}",
     {"hubsync.json: jobs[1].watch: \"/w\" is also watched by jobs[0]"}},
    {"{\"jobs\": [" JOB ", \"name\": \"x\\u0001\"}]}",
     {"hubsync.json:1:63: duplicate object key near '\"name\"'"}},
    {"{\"license\": \"mit\", \"jobs\": [" JOB ", \"license\": \"mit\"}]}",
     {"hubsync.json: license: unknown key here (it belongs in a job's \"model_card\" object)",
      "hubsync.json: jobs[0].license: unknown key here (it belongs in the job's \"model_card\" "
      "object)"}},
    {"{\"state_dir\": \"/a/./b\", \"jobs\": [{\"name\": \"j\", \"watch\": \"/\", "
     "\"hub_model_id\": \"o/m\", \"spool_dir\": \"/x/../y\", \"pid_file\": \"/run/..\"}]}",
     {"hubsync.json: state_dir: \"/a/./b\" has a \".\" or \"..\" component; write the path plainly",
      "hubsync.json: jobs[0].watch: \"/\" cannot be watched: name the training output folder",
      "hubsync.json: jobs[0].spool_dir: \"/x/../y\" has a \".\" or \"..\" component; write the "
      "path plainly",
      "hubsync.json: jobs[0].pid_file: \"/run/..\" has a \".\" or \"..\" component; write the path "
      "plainly"}},
    {"{\"state_dir\": \"/w/state\", \"jobs\": [" JOB ", \"spool_dir\": \"/w/spool\"}]}",
     {"hubsync.json: jobs[0].spool_dir: \"/w/spool\" is inside the watched folder /w; put it "
      "under /w/.hubsync/ or outside",
      "hubsync.json: state_dir: /w/state is inside jobs[0].watch /w; put it under /w/.hubsync/ or "
      "outside"}},
    {"{\"jobs\": [{\"name\": \"x\\u0001\", \"watch\": \"/w\", \"hub_model_id\": \"o/m\"}]}",
     {"hubsync.json: jobs[0].name: contains a control character"}},
    {"{\"jobs\": [" JOB ", \"hub_keep_checkpoints\": 2, \"tag_saves\": \"v1\"}]}",
     {"hubsync.json: jobs[0].tag_saves: \"v1\" has no \"{step}\": every save would get the same "
      "tag",
      "hubsync.json: jobs[0].hub_keep_checkpoints: applies to hub_strategy \"all_checkpoints\" "
      "only (this job's is \"every_save\", which keeps no checkpoint-N/ folders); remove it or "
      "change hub_strategy"}},
    {"{\"jobs\": [" JOB ", \"hub_strategy\": \"all_checkpoints\", \"hub_keep_checkpoints\": -1, "
     "\"tag_saves\": 3}]}",
     {"hubsync.json: jobs[0].tag_saves: expected true, false or a pattern such as \"step-{step}\", "
      "got an integer",
      "hubsync.json: jobs[0].hub_keep_checkpoints: -1 is out of range 0..1000000"}},
    {"{\"jobs\": [" JOB ", \"tag_saves\": \"a..{step}\"}]}",
     {"hubsync.json: jobs[0].tag_saves: \"a..{step}\" does not make a valid tag: \"a..0\" (step 0) "
      "it contains \"..\", \"//\" or \"@{\""}},
};

static void test_bad_table(void **state)
{
    (void)state;
    env_reset();
    int failures = 0;
    for (size_t t = 0; t < HS_ARRAY_SIZE(bad); t++) {
        struct config *cfg = (struct config *)1;
        struct config_errors errs = {0};
        int rc = load(bad[t].text, &cfg, &errs);
        size_t want_n = 0;
        while (want_n < HS_ARRAY_SIZE(bad[t].msgs) && bad[t].msgs[want_n])
            want_n++;
        bool ok = rc == HS_ECONFIG && cfg == NULL && errs.n == want_n;
        for (size_t i = 0; ok && i < want_n; i++)
            ok = strcmp(errs.v[i], bad[t].msgs[i]) == 0;
        if (!ok) {
            failures++;
            fprintf(stderr, "case %zu: rc %d, %zu messages (want %zu):\n", t, rc, errs.n, want_n);
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "  got:  %s\n", errs.v[i]);
            for (size_t i = 0; i < want_n; i++)
                fprintf(stderr, "  want: %s\n", bad[t].msgs[i]);
        }
        config_errors_free(&errs);
    }
    assert_int_equal(failures, 0);
}

/* ---- defaults ---------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    env_reset();
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(load("{\"jobs\": [" JOB "}]}", &cfg, &errs), 0);
    assert_int_equal(errs.n, 0);
    assert_string_equal(cfg->path, "hubsync.json");
    assert_string_equal(cfg->endpoint, "https://huggingface.co");
    assert_int_equal(cfg->endpoint_origin, CONFIG_FROM_DEFAULT);
    assert_null(cfg->token);
    assert_null(cfg->token_file);
    assert_string_equal(cfg->state_dir, "/home/u/.local/state/hubsync");
    assert_null(cfg->ca_file);
    assert_int_equal(cfg->max_parallel_uploads, 8);
    assert_true(cfg->bandwidth_limit_mbps == 0);
    assert_int_equal(cfg->bandwidth_limit_bytes_per_sec, 0);
    assert_int_equal(cfg->log_level, HS_LOG_INFO);
    assert_null(cfg->log_file);
    assert_int_equal(cfg->n_jobs, 1);
    const struct config_job *j = &cfg->jobs[0];
    assert_string_equal(j->name, "j");
    assert_string_equal(j->watch, "/w");
    assert_string_equal(j->hub_model_id, "o/m");
    assert_int_equal(j->hub_strategy, CONFIG_STRATEGY_EVERY_SAVE);
    assert_false(j->private_repo);
    assert_string_equal(j->revision, "main");
    assert_int_equal(j->layout, CONFIG_LAYOUT_AUTO);
    assert_int_equal(j->watch_mode, CONFIG_WATCH_AUTO);
    assert_int_equal(j->poll_interval_usec, 10 * HS_USEC_PER_SEC);
    assert_int_equal(j->settle_usec, 30 * HS_USEC_PER_SEC);
    assert_int_equal(j->marker_quiet_usec, 2 * HS_USEC_PER_SEC);
    assert_int_equal(j->world_size, 1);
    assert_int_equal(j->world_size_origin, CONFIG_FROM_DEFAULT);
    assert_int_equal(j->include.n, 1);
    assert_string_equal(j->include.v[0], "*");
    assert_int_equal(j->exclude.n, 0);
    assert_true(j->supersede);
    assert_true(j->lost_saves_fail_run);
    assert_int_equal(j->final_push_timeout_usec, 30 * 60 * HS_USEC_PER_SEC);
    assert_string_equal(j->spool_dir, "/w/.hubsync/spool");
    assert_int_equal(j->spool_dir_origin, CONFIG_FROM_DEFAULT);
    assert_int_equal(j->spool_max_bytes, 0);
    assert_int_equal(j->pid, 0);
    assert_null(j->pid_file);
    assert_int_equal(j->finish_after_idle_usec, 0);
    assert_int_equal(j->existing_checkpoints, CONFIG_EXISTING_LATEST);
    assert_int_equal(j->model_card.mode, CONFIG_CARD_MERGE);
    assert_null(j->model_card.model_name);
    assert_int_equal(j->model_card.datasets.n, 0);
    assert_ptr_equal(config_job_find(cfg, "j"), j);
    assert_null(config_job_find(cfg, "nope"));
    assert_null(config_free(cfg));
    assert_null(config_free(NULL));
}

static void test_all_values(void **state)
{
    (void)state;
    env_reset();
    const char *text =
        "{\"endpoint\": \"http://127.0.0.1:9/\", \"token_file\": \"/etc/hubsync/token\","
        " \"state_dir\": \"/var/lib/hubsync\", \"ca_file\": \"/etc/ca.pem\","
        " \"max_parallel_uploads\": 64, \"bandwidth_limit_mbps\": 80, \"log_level\": \"warning\","
        " \"log_file\": \"/var/log/hubsync.log\", \"jobs\": [{\"name\": \"a.B_c-1\","
        " \"watch\": \"/data//run/\", \"hub_model_id\": \"bert\", \"hub_strategy\": "
        "\"all_checkpoints\", \"private\": true, \"revision\": \"feature/x\", \"layout\": "
        "\"deepspeed\", \"watch_mode\": \"poll\", \"poll_interval_seconds\": 0.25,"
        " \"settle_seconds\": 1, \"marker_quiet_seconds\": 0, \"world_size\": 8,"
        " \"include\": [\"*.safetensors\", \"config.json\"], \"exclude\": [\"runs/\"],"
        " \"supersede\": false, \"spool_dir\": \"/data/run/.hubsync/my-spool/\", \"spool_max_gb\": "
        "1.5,"
        " \"pid_file\": \"/run/train.pid\", \"finish_after_idle_seconds\": 600,"
        " \"existing_checkpoints\": \"all\", \"lost_saves_fail_run\": false,"
        " \"final_push_timeout_minutes\": 0.5, \"model_card\": {\"mode\": \"overwrite\","
        " \"model_name\": \"M\", \"base_model\": \"bert-base-cased\", \"datasets\": [\"glue\","
        " \"imdb\"], \"dataset_name\": \"glue mrpc\", \"language\": \"en\", \"license\": "
        "\"apache-2.0\", \"tags\": [\"t\"], \"task\": \"text-classification\","
        " \"metrics_order\": [\"f1\", \"accuracy\"]}}]}";
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    int rc = load(text, &cfg, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.v[i]);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg->endpoint, "http://127.0.0.1:9");
    assert_int_equal(cfg->endpoint_origin, CONFIG_FROM_FILE);
    assert_string_equal(cfg->token_file, "/etc/hubsync/token");
    assert_string_equal(cfg->state_dir, "/var/lib/hubsync");
    assert_int_equal(cfg->state_dir_origin, CONFIG_FROM_FILE);
    assert_string_equal(cfg->ca_file, "/etc/ca.pem");
    assert_int_equal(cfg->max_parallel_uploads, 64);
    assert_int_equal(cfg->bandwidth_limit_bytes_per_sec, 10000000);
    assert_int_equal(cfg->log_level, HS_LOG_WARN);
    assert_string_equal(cfg->log_file, "/var/log/hubsync.log");
    const struct config_job *j = &cfg->jobs[0];
    assert_string_equal(j->watch, "/data/run");
    assert_int_equal(j->hub_strategy, CONFIG_STRATEGY_ALL_CHECKPOINTS);
    assert_true(j->private_repo);
    assert_string_equal(j->revision, "feature/x");
    assert_int_equal(j->layout, CONFIG_LAYOUT_DEEPSPEED);
    assert_int_equal(j->watch_mode, CONFIG_WATCH_POLL);
    assert_int_equal(j->poll_interval_usec, 250000);
    assert_int_equal(j->settle_usec, HS_USEC_PER_SEC);
    assert_int_equal(j->marker_quiet_usec, 0);
    assert_int_equal(j->world_size, 8);
    assert_int_equal(j->world_size_origin, CONFIG_FROM_FILE);
    assert_int_equal(j->include.n, 2);
    assert_string_equal(j->include.v[1], "config.json");
    assert_string_equal(j->exclude.v[0], "runs/");
    assert_false(j->supersede);
    assert_false(j->lost_saves_fail_run);
    assert_int_equal(j->final_push_timeout_usec, 30 * HS_USEC_PER_SEC);
    assert_string_equal(j->spool_dir, "/data/run/.hubsync/my-spool");
    assert_int_equal(j->spool_max_bytes, 1500000000);
    assert_string_equal(j->pid_file, "/run/train.pid");
    assert_int_equal(j->finish_after_idle_usec, 600 * HS_USEC_PER_SEC);
    assert_int_equal(j->existing_checkpoints, CONFIG_EXISTING_ALL);
    const struct config_model_card *m = &j->model_card;
    assert_int_equal(m->mode, CONFIG_CARD_OVERWRITE);
    assert_string_equal(m->model_name, "M");
    assert_int_equal(m->base_model.n, 1);
    assert_string_equal(m->base_model.v[0], "bert-base-cased");
    assert_int_equal(m->datasets.n, 2);
    assert_string_equal(m->datasets.v[1], "imdb");
    assert_string_equal(m->dataset_name, "glue mrpc");
    assert_string_equal(m->language.v[0], "en");
    assert_string_equal(m->license, "apache-2.0");
    assert_string_equal(m->tags.v[0], "t");
    assert_string_equal(m->task, "text-classification");
    assert_string_equal(m->metrics_order.v[1], "accuracy");
    config_free(cfg);
}

/* ---- environment-dependent defaults ------------------------------------ */

static void expect_env_defaults(const char *text, const char *state_dir, const char *endpoint,
                                enum config_origin ep_origin)
{
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    int rc = load(text, &cfg, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.v[i]);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg->state_dir, state_dir);
    assert_string_equal(cfg->endpoint, endpoint);
    assert_int_equal(cfg->endpoint_origin, ep_origin);
    config_free(cfg);
}

static void test_env_defaults(void **state)
{
    (void)state;
    const char *plain = "{\"jobs\": [" JOB "}]}";
    env_reset();
    env_set("XDG_STATE_HOME", "/xdg/state");
    expect_env_defaults(plain, "/xdg/state/hubsync", "https://huggingface.co", CONFIG_FROM_DEFAULT);
    env_set("STATE_DIRECTORY", "/var/lib/hubsync:/var/lib/other");
    env_set("HF_ENDPOINT", "http://127.0.0.1:5000/");
    expect_env_defaults(plain, "/var/lib/hubsync", "http://127.0.0.1:5000", CONFIG_FROM_ENV);
    /* the config wins over the environment */
    expect_env_defaults("{\"endpoint\": \"https://hub.example\", \"state_dir\": \"/s\", "
                        "\"jobs\": [" JOB "}]}",
                        "/s", "https://hub.example", CONFIG_FROM_FILE);

    /* a missing HOME is a config problem listed with the rest; offline mode
     * is not a load error (offline tools read the config) but
     * config_check_online() reports it */
    env_reset();
    fake_vars[0][0] = NULL;
    env_set("HF_HUB_OFFLINE", "1");
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(load("{\"jobs\": [" JOB ", \"private\": 1}]}", &cfg, &errs), HS_ECONFIG);
    assert_null(cfg);
    assert_int_equal(errs.n, 2);
    assert_string_equal(errs.v[0], "hubsync.json: jobs[0].private: expected true or false, got an "
                                   "integer");
    assert_string_equal(errs.v[1], "hubsync.json: state_dir: not set, and neither "
                                   "STATE_DIRECTORY, XDG_STATE_HOME nor HOME gives a default; "
                                   "set it");
    config_errors_free(&errs);
    env_set("HOME", "/home/u");
    assert_int_equal(load("{\"jobs\": [" JOB "}]}", &cfg, &errs), 0);
    config_free(cfg);
    struct hs_err err = {0};
    assert_int_equal(config_check_online(fake_env, &err), HS_ECONFIG);
    assert_string_equal(err.msg, "HF_HUB_OFFLINE=1: offline mode is enabled, so nothing can be "
                                 "uploaded; unset it");
    env_set("HF_HUB_OFFLINE", "no");
    assert_int_equal(config_check_online(fake_env, &err), 0);
}

static void test_world_size_run_env(void **state)
{
    (void)state;
    env_reset();
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(load("{\"jobs\": [" JOB "}, {\"name\": \"k\", \"watch\": \"/k\", "
                          "\"hub_model_id\": \"o/k\", \"world_size\": 2}]}",
                          &cfg, &errs),
                     0);
    struct hs_err err = {0};
    assert_int_equal(config_apply_run_env(cfg, fake_env, &err), 0); /* unset: no change */
    assert_int_equal(cfg->jobs[0].world_size, 1);
    env_set("WORLD_SIZE", "4");
    assert_int_equal(config_apply_run_env(cfg, fake_env, &err), 0);
    assert_int_equal(cfg->jobs[0].world_size, 4);
    assert_int_equal(cfg->jobs[0].world_size_origin, CONFIG_FROM_ENV);
    assert_int_equal(cfg->jobs[1].world_size, 2); /* the config wins */
    env_set("WORLD_SIZE", "four");
    assert_int_equal(config_apply_run_env(cfg, fake_env, &err), HS_ECONFIG);
    assert_string_equal(err.msg, "WORLD_SIZE=\"four\" is not an integer in 1..65536");
    config_free(cfg);
}

/* The card's framework versions under `run`: HUBSYNC_*_VERSION fill what
 * model_card.framework_versions leaves out; the config file wins. */
static void test_framework_versions_run_env(void **state)
{
    (void)state;
    env_reset();
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(load("{\"jobs\": [" JOB ", \"model_card\": {\"framework_versions\": "
                          "{\"pytorch\": \"2.1.0\"}}}]}",
                          &cfg, &errs),
                     0);
    const struct config_framework_versions *f = &cfg->jobs[0].model_card.framework_versions;
    assert_string_equal(f->pytorch, "2.1.0");
    assert_null(f->datasets);
    struct hs_err err = {0};
    env_set("HUBSYNC_PYTORCH_VERSION", "2.2.1+cu121");
    env_set("HUBSYNC_DATASETS_VERSION", "2.17.1");
    env_set("HUBSYNC_TOKENIZERS_VERSION", "");
    assert_int_equal(config_apply_run_env(cfg, fake_env, &err), 0);
    assert_string_equal(f->pytorch, "2.1.0"); /* the config wins */
    assert_string_equal(f->datasets, "2.17.1");
    assert_null(f->tokenizers); /* empty: not listed */
    config_free(cfg);
}

/* ---- files: mode rule for an inline token, unreadable files ------------ */

static char dir[64];

static int files_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/hs_test_cfg_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int files_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_cfg(const char *path, const char *text, unsigned mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_inline_token_mode(void **state)
{
    (void)state;
    env_reset();
    char path[128], want[512];
    snprintf(path, sizeof(path), "%s/hubsync.json", dir);
    const char *text = "{\"token\": \"hf_inline_secret_value\", \"jobs\": [" JOB "}]}";
    const unsigned refused[] = {0644, 0640, 0604, 0660, 0606};
    for (size_t i = 0; i < HS_ARRAY_SIZE(refused); i++) {
        write_cfg(path, text, refused[i]);
        struct config *cfg = NULL;
        struct config_errors errs = {0};
        assert_int_equal(config_load_env(path, fake_env, &cfg, &errs), HS_ECONFIG);
        assert_int_equal(errs.n, 1);
        snprintf(want, sizeof(want),
                 "%s: token: an inline token needs the config file to be mode 0600 or stricter "
                 "(it is %04o); run chmod 600 on it, or use \"token_file\"",
                 path, refused[i]);
        assert_string_equal(errs.v[0], want);
        assert_null(strstr(errs.v[0], "hf_inline"));
        config_errors_free(&errs);
    }
    const unsigned accepted[] = {0600, 0400};
    for (size_t i = 0; i < HS_ARRAY_SIZE(accepted); i++) {
        write_cfg(path, text, accepted[i]);
        struct config *cfg = NULL;
        struct config_errors errs = {0};
        assert_int_equal(config_load_env(path, fake_env, &cfg, &errs), 0);
        assert_string_equal(cfg->token, "hf_inline_secret_value");
        /* registered: a log line naming it is scrubbed */
        char line[128] = "token=hf_inline_secret_value end";
        hs_secret_scrub(line);
        assert_null(strstr(line, "inline_secret"));
        /* config_token_load keeps the inline token and says where it came from */
        struct hs_err err = {0};
        assert_int_equal(config_token_load(cfg, fake_env, &err), 0);
        assert_int_equal(cfg->token_source, CONFIG_TOKEN_INLINE);
        assert_string_equal(cfg->token, "hf_inline_secret_value");
        config_free(cfg);
    }
}

static void test_token_load_from_env(void **state)
{
    (void)state;
    env_reset();
    env_set("HF_TOKEN", "hf_from_env_1234");
    env_set("HF_HOME", "/nonexistent");
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(load("{\"jobs\": [" JOB "}]}", &cfg, &errs), 0);
    struct hs_err err = {0};
    assert_int_equal(config_token_load(cfg, fake_env, &err), 0);
    assert_string_equal(cfg->token, "hf_from_env_1234");
    assert_int_equal(cfg->token_source, CONFIG_TOKEN_ENV);
    assert_string_equal(cfg->token_where, "$HF_TOKEN");
    config_free(cfg);

    env_reset();
    env_set("HF_HOME", "/nonexistent");
    assert_int_equal(load("{\"jobs\": [" JOB "}]}", &cfg, &errs), 0);
    assert_int_equal(config_token_load(cfg, fake_env, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/token does not exist"));
    assert_int_equal(cfg->token_source, CONFIG_TOKEN_NONE);
    config_free(cfg);
}

static void test_unreadable(void **state)
{
    (void)state;
    char path[128], want[256];
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_int_equal(config_load_env(path, fake_env, &cfg, &errs), -ENOENT);
    assert_int_equal(errs.n, 1);
    snprintf(want, sizeof(want), "%s: cannot read: %s", path, hs_strerror(-ENOENT));
    assert_string_equal(errs.v[0], want);
    config_errors_free(&errs);
    assert_int_equal(config_load_env(dir, fake_env, &cfg, &errs), -EISDIR);
    config_errors_free(&errs);
}

static void test_many_errors_capped(void **state)
{
    (void)state;
    env_reset();
    struct hs_buf b;
    hs_buf_init(&b, 1 << 20);
    hs_buf_printf(&b, "{");
    for (int i = 0; i < CONFIG_ERRORS_MAX + 50; i++)
        hs_buf_printf(&b, "\"bogus%d\": 1, ", i);
    hs_buf_printf(&b, "\"jobs\": [" JOB "}]}");
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(load(b.data, &cfg, &errs), HS_ECONFIG);
    assert_int_equal(errs.n, CONFIG_ERRORS_MAX);
    assert_string_equal(errs.v[CONFIG_ERRORS_MAX - 1], "hubsync.json: ... and 51 more problems");
    config_errors_free(&errs);
    hs_buf_free(&b);
}

static void test_tag_saves(void **state)
{
    (void)state;
    env_reset();
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(load("{\"jobs\": [" JOB ", \"hub_strategy\": \"all_checkpoints\", "
                          "\"tag_saves\": true, \"hub_keep_checkpoints\": 3}, {\"name\": \"k\", "
                          "\"watch\": \"/k\", \"hub_model_id\": \"o/k\", \"tag_saves\": "
                          "\"run2/{step}-{step}\"}, {\"name\": \"l\", \"watch\": \"/l\", "
                          "\"hub_model_id\": \"o/l\", \"tag_saves\": false}]}",
                          &cfg, &errs),
                     0);
    assert_string_equal(cfg->jobs[0].tag_saves, "step-{step}");
    assert_int_equal(cfg->jobs[0].hub_keep_checkpoints, 3);
    assert_null(cfg->jobs[2].tag_saves);
    assert_int_equal(cfg->jobs[2].hub_keep_checkpoints, 0);
    char tag[32];
    assert_int_equal(config_tag_name(cfg->jobs[0].tag_saves, 500, tag, sizeof(tag)), 0);
    assert_string_equal(tag, "step-500");
    assert_int_equal(config_tag_name(cfg->jobs[1].tag_saves, 7, tag, sizeof(tag)), 0);
    assert_string_equal(tag, "run2/7-7");
    assert_int_equal(config_tag_name("step-{step}", 123456, tag, 11), -ENAMETOOLONG);
    assert_int_equal(config_tag_name("step-{step}", 12345, tag, 11), 0);
    assert_string_equal(tag, "step-12345");
    config_free(cfg);
}

static void test_plan_render(void **state)
{
    (void)state;
    env_reset();
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(
        load("{\"jobs\": [" JOB ", \"hub_strategy\": \"all_checkpoints\"}]}", &cfg, &errs), 0);
    struct hs_buf b;
    hs_buf_init(&b, 1 << 20);
    assert_int_equal(strategy_plan_render(cfg, &b), 0);
    assert_non_null(strstr(b.data, "job j\n"));
    assert_non_null(strstr(b.data, "save -> its own path (checkpoint-N/ for the Trainer"));
    assert_non_null(strstr(b.data, "token:          not resolved\n"));
    assert_non_null(strstr(b.data, "every save's own folder stays in the repo"));
    hs_buf_free(&b);
    hs_buf_init(&b, 100); /* too small: reported, not truncated silently */
    assert_int_equal(strategy_plan_render(cfg, &b), -E2BIG);
    hs_buf_free(&b);
    config_free(cfg);
}

static void test_did_you_mean(void **state)
{
    (void)state;
    const char *keys[] = {"hub_strategy", "hub_model_id", "watch",
                          "watch_mode",   "spool_dir",    "private"};
    assert_string_equal(config_did_you_mean("hub_stratgey", keys, 6), "hub_strategy");
    assert_string_equal(config_did_you_mean("hub-strategy", keys, 6), "hub_strategy");
    assert_string_equal(config_did_you_mean("HUB_MODEL_ID", keys, 6), "hub_model_id");
    assert_string_equal(config_did_you_mean("wacth", keys, 6), "watch");
    assert_string_equal(config_did_you_mean("watchmode", keys, 6), "watch_mode");
    assert_string_equal(config_did_you_mean("privat", keys, 6), "private");
    assert_null(config_did_you_mean("seed", keys, 6));
    assert_null(config_did_you_mean("model", keys, 6));
    assert_null(config_did_you_mean("x", keys, 6));
    assert_null(config_did_you_mean("anything", keys, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_table),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_tag_saves),
        cmocka_unit_test(test_all_values),
        cmocka_unit_test(test_env_defaults),
        cmocka_unit_test(test_world_size_run_env),
        cmocka_unit_test(test_framework_versions_run_env),
        cmocka_unit_test_setup_teardown(test_inline_token_mode, files_setup, files_teardown),
        cmocka_unit_test(test_token_load_from_env),
        cmocka_unit_test_setup_teardown(test_unreadable, files_setup, files_teardown),
        cmocka_unit_test(test_many_errors_capped),
        cmocka_unit_test(test_plan_render),
        cmocka_unit_test(test_did_you_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
