/*
 * hparams.c — the "Training hyperparameters" list
 * (extract_hyperparameters_from_trainer), from the TrainingArguments state
 * read out of training_args.bin, the world size of the launch (job config
 * or the wrapped command's WORLD_SIZE) and, without training_args.bin, the
 * little trainer_state.json knows (train_batch_size, num_train_epochs).
 * Only named fields are read: nothing else of the pickle reaches the card.
 */
#include "modelcard_int.h"

#include <errno.h>
#include <string.h>

static const json_t *arg(const struct modelcard_run *run, const char *k)
{
    return json_object_get(run->args, k);
}

/* Members whose value is not their lower-cased name (OptimizerNames,
 * SchedulerType); needed when the pickle holds getattr(Enum, "NAME"). */
static const struct {
    const char *name, *value;
} enum_exceptions[] = {
    {"ADAMW_BNB", "adamw_bnb_8bit"},        {"LION", "lion_32bit"},
    {"PAGED_ADAMW", "paged_adamw_32bit"},   {"PAGED_ADEMAMIX", "paged_ademamix_32bit"},
    {"PAGED_LION", "paged_lion_32bit"},     {"RMSPROP_8BIT", "rmsprop_bnb_8bit"},
    {"RMSPROP_32BIT", "rmsprop_bnb_32bit"}, {"REDUCE_ON_PLATEAU", "reduce_lr_on_plateau"},
};

/* An enum member → a new reference to its value: {"__args__": [value]}
 * (Python <= 3.10 pickles) or {"__member__": "NAME"} (3.11+); else v. */
static json_t *enum_value(const json_t *v)
{
    if (json_is_object(v) && json_object_get(v, "__class__")) {
        const json_t *a = json_array_get(json_object_get(v, "__args__"), 0);
        if (a)
            return json_incref((json_t *)a);
        const char *m = json_string_value(json_object_get(v, "__member__"));
        if (m) {
            for (size_t i = 0; i < HS_ARRAY_SIZE(enum_exceptions); i++)
                if (!strcmp(m, enum_exceptions[i].name))
                    return json_string(enum_exceptions[i].value);
            char low[128];
            size_t k = 0;
            for (; m[k] && k + 1 < sizeof(low); k++)
                low[k] = (char)(m[k] >= 'A' && m[k] <= 'Z' ? m[k] + 32 : m[k]);
            low[k] = '\0';
            return json_string(low);
        }
    }
    return json_incref((json_t *)v);
}

static int add(struct mc_card *c, const char *name, const char *fmt_text)
{
    struct mc_kv *n = realloc(c->hparams, (c->nhparams + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    c->hparams = n;
    n[c->nhparams].name = strdup(name);
    n[c->nhparams].value = NULL;
    n[c->nhparams].text = strdup(fmt_text);
    if (!n[c->nhparams].name || !n[c->nhparams].text)
        return -ENOMEM;
    c->nhparams++;
    return 0;
}

static int add_json(struct mc_card *c, const char *name, const json_t *v)
{
    struct hs_buf b;
    hs_buf_init(&b, 64 * 1024);
    json_t *ev = enum_value(v);
    int r = ev ? modelcard__py_str(ev, &b) : -ENOMEM;
    json_decref(ev);
    if (r == -E2BIG) { /* a hostile value: leave this line out */
        hs_buf_free(&b);
        return 0;
    }
    if (r == 0)
        r = hs_buf_append(&b, "", 0);
    if (r == 0)
        r = add(c, name, b.data);
    hs_buf_free(&b);
    return r;
}

static bool num(const json_t *v, double *out)
{
    return v && !json_is_boolean(v) && hs_json_number(v, out);
}

static bool int_of(const json_t *v, json_int_t *out)
{
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

static int from_state(const struct modelcard_run *run, struct mc_card *c)
{
    const json_t *bs = json_object_get(run->state, "train_batch_size");
    const json_t *ep = json_object_get(run->state, "num_train_epochs");
    int r = 0;
    if (json_is_integer(bs))
        r = add_json(c, "train_batch_size", bs);
    if (r == 0 && json_is_integer(ep))
        r = add_json(c, "num_epochs", ep);
    return r;
}

/* transformers' modelcard.py names the optimizer from args.optim since
 * 4.46.0 (huggingface/transformers#33581, fixing #32560: "Use adamw_torch
 * with betas=(…) and epsilon=… and optimizer_args=…"); before, it wrote
 * "Adam with betas=(b1,b2) and epsilon=eps" whatever optim was, or
 * "Adafactor" for args.adafactor. The version is config.json's
 * transformers_version (4.46.0.dev0 has the new text); without one, the
 * current text. */
static bool old_optimizer_text(const struct modelcard_run *run)
{
    const char *v = json_string_value(json_object_get(run->config, "transformers_version"));
    unsigned major = 0, minor = 0;
    if (!v || sscanf(v, "%u.%u", &major, &minor) != 2)
        return false;
    return major < 4 || (major == 4 && minor < 46);
}

static int betas_eps(const struct modelcard_run *run, struct hs_buf *b)
{
    int r = modelcard__py_str(arg(run, "adam_beta1") ? arg(run, "adam_beta1") : json_null(), b);
    if (r == 0)
        r = hs_buf_append(b, ",", 1);
    if (r == 0)
        r = modelcard__py_str(arg(run, "adam_beta2") ? arg(run, "adam_beta2") : json_null(), b);
    if (r == 0)
        r = hs_buf_append(b, ") and epsilon=", 14);
    if (r == 0)
        r = modelcard__py_str(arg(run, "adam_epsilon") ? arg(run, "adam_epsilon") : json_null(), b);
    return r;
}

static int optimizer_line(const struct modelcard_run *run, struct mc_card *c)
{
    struct hs_buf b;
    hs_buf_init(&b, 64 * 1024);
    int r = 0;
    json_t *optim = arg(run, "optim") ? enum_value(arg(run, "optim")) : NULL;
    if (old_optimizer_text(run)) {
        if (json_is_true(arg(run, "adafactor")))
            r = hs_buf_printf(&b, "Adafactor");
        else if ((r = hs_buf_printf(&b, "Adam with betas=(")) == 0)
            r = betas_eps(run, &b);
    } else if (json_is_string(optim) && json_string_length(optim) > 0) {
        const json_t *oa = arg(run, "optim_args");
        const char *oargs = json_is_string(oa) && json_string_length(oa) > 0
                                ? json_string_value(oa)
                                : "No additional optimizer arguments";
        if (strcasestr(json_string_value(optim), "adam")) {
            r = hs_buf_printf(&b, "Use %s with betas=(", json_string_value(optim));
            if (r == 0)
                r = betas_eps(run, &b);
            if (r == 0)
                r = hs_buf_printf(&b, " and optimizer_args=%s", oargs);
        } else {
            r = hs_buf_printf(&b, "Use %s and the args are:\n%s", json_string_value(optim), oargs);
        }
    }
    if (r == 0 && b.len)
        r = add(c, "optimizer", b.data);
    else if (r == -E2BIG)
        r = 0; /* hostile optim_args: no optimizer line */
    hs_buf_free(&b);
    json_decref(optim);
    return r;
}

int modelcard__hparams_build(const struct modelcard_run *run, const struct modelcard_meta *meta,
                             struct mc_card *c, struct modelcard_warnings *w)
{
    (void)w;
    if (!run->args)
        return from_state(run, c);
    json_int_t ptb, peb, ngpu = 1, gas = 1;
    if (!int_of(arg(run, "per_device_train_batch_size"), &ptb) ||
        !int_of(arg(run, "per_device_eval_batch_size"), &peb) || !arg(run, "learning_rate") ||
        !arg(run, "seed")) {
        modelcard_warn(w, "training_args.bin lacks the basic TrainingArguments fields: "
                          "hyperparameters taken from trainer_state.json");
        return from_state(run, c);
    }
    if (int_of(arg(run, "_n_gpu"), &ngpu) && ngpu < 1)
        ngpu = 1;
    int_of(arg(run, "gradient_accumulation_steps"), &gas);
    json_int_t world = meta->world_size > 1 ? meta->world_size : 1;
    json_int_t tb = ptb * ngpu, eb = peb * ngpu;
    char tmp[64];
    int r = add_json(c, "learning_rate", arg(run, "learning_rate"));
#define ADD_INT(name, v)                                                                           \
    do {                                                                                           \
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, (json_int_t)(v));                      \
        if (r == 0)                                                                                \
            r = add(c, name, tmp);                                                                 \
    } while (0)
    ADD_INT("train_batch_size", tb);
    ADD_INT("eval_batch_size", eb);
    if (r == 0)
        r = add_json(c, "seed", arg(run, "seed"));
    if (world > 1) {
        if (r == 0)
            r = add(c, "distributed_type", "multi-GPU");
        ADD_INT("num_devices", world);
    }
    if (gas > 1)
        ADD_INT("gradient_accumulation_steps", gas);
    if (tb * world * gas != tb)
        ADD_INT("total_train_batch_size", tb * world * gas);
    if (eb * world != eb)
        ADD_INT("total_eval_batch_size", eb * world);

    if (r == 0)
        r = optimizer_line(run, c);
    const json_t *sched = arg(run, "lr_scheduler_type");
    if (r == 0 && sched)
        r = add_json(c, "lr_scheduler_type", sched);
    double d;
    if (r == 0 && num(arg(run, "warmup_ratio"), &d) && d != 0.0)
        r = add_json(c, "lr_scheduler_warmup_ratio", arg(run, "warmup_ratio"));
    if (r == 0 && num(arg(run, "warmup_steps"), &d) && d != 0.0)
        r = add_json(c, "lr_scheduler_warmup_steps", arg(run, "warmup_steps"));
    json_int_t ms;
    if (r == 0 && int_of(arg(run, "max_steps"), &ms) && ms != -1)
        r = add_json(c, "training_steps", arg(run, "max_steps"));
    else if (r == 0 && arg(run, "num_train_epochs"))
        r = add_json(c, "num_epochs", arg(run, "num_train_epochs"));
    if (r == 0 && json_is_true(arg(run, "fp16")))
        r = add(c, "mixed_precision_training", "Native AMP");
    if (r == 0 && num(arg(run, "label_smoothing_factor"), &d) && d != 0.0)
        r = add_json(c, "label_smoothing_factor", arg(run, "label_smoothing_factor"));
#undef ADD_INT
    return r;
}
