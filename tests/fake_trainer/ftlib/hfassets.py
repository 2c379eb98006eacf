"""The small files a transformers save writes besides the weights: config.json,
generation_config.json, tokenizer files, PEFT's README.md and adapter_config.json,
the pickled TrainingArguments (training_args.bin), optimizer/scheduler/scaler/RNG
states, and the simulated metrics (loss curve, evaluations) of a training run.

Formats follow transformers: JSON configs are `json.dumps(d, indent=2,
sort_keys=True) + "\\n"`; *_results.json use `json.dump(d, indent=4,
sort_keys=True)`; .bin/.pt/.pth files are torch.save zip archives (see
common.Ctx.write_torch) whose data.pkl unpickles without torch for the plain
objects (TrainingArguments pickles as transformers.training_args.TrainingArguments,
with its enums, so a reader can recover the hyperparameters).
"""

import enum
import json
import math
import random

from .common import fake_class

TRANSFORMERS_VERSION = "4.56.1"


def dumps_config(d):
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


def model_config(args, hidden, n_layers, vocab):
    if args.model_type == "causal-lm":
        d = {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "hidden_act": "silu",
            "hidden_size": hidden,
            "intermediate_size": 4 * hidden,
            "max_position_embeddings": 2048,
            "model_type": "llama",
            "num_attention_heads": max(1, hidden // 64),
            "num_hidden_layers": n_layers,
            "num_key_value_heads": max(1, hidden // 64),
            "rms_norm_eps": 1e-05,
            "rope_theta": 10000.0,
            "tie_word_embeddings": False,
            "torch_dtype": _torch_dtype(args.dtype),
            "transformers_version": TRANSFORMERS_VERSION,
            "use_cache": True,
            "vocab_size": vocab,
        }
    else:
        d = {
            "architectures": ["BertForSequenceClassification"],
            "attention_probs_dropout_prob": 0.1,
            "classifier_dropout": None,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "hidden_size": hidden,
            "id2label": {"0": "not_equivalent", "1": "equivalent"},
            "initializer_range": 0.02,
            "intermediate_size": 4 * hidden,
            "label2id": {"equivalent": 1, "not_equivalent": 0},
            "layer_norm_eps": 1e-12,
            "max_position_embeddings": 512,
            "model_type": "bert",
            "num_attention_heads": max(1, hidden // 64),
            "num_hidden_layers": n_layers,
            "pad_token_id": 0,
            "position_embedding_type": "absolute",
            "problem_type": "single_label_classification",
            "torch_dtype": _torch_dtype(args.dtype),
            "transformers_version": TRANSFORMERS_VERSION,
            "type_vocab_size": 2,
            "use_cache": True,
            "vocab_size": vocab,
        }
    if args.base_model:  # older transformers versions record it
        d["_name_or_path"] = args.base_model
    return dumps_config(d)


def generation_config():
    return dumps_config({"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": TRANSFORMERS_VERSION})


def _torch_dtype(dt):
    return {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dt]


def tokenizer_files(args):
    """[(name, bytes)] in save_pretrained order (chat template, tokenizer_config,
    special_tokens_map, slow vocab files, tokenizer.json)."""
    n_tok = max(16, args.tokenizer_size // 24)
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["tok%06d" % i for i in range(n_tok)]
    causal = args.model_type == "causal-lm"
    files = []
    if causal:
        files.append(("chat_template.jinja", b"{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}"))
    cfg = {
        "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True} for i, t in enumerate(toks[:5])},
        "clean_up_tokenization_spaces": False,
        "model_max_length": 2048 if causal else 512,
        "tokenizer_class": "PreTrainedTokenizerFast" if causal else "BertTokenizer",
        "extra_special_tokens": {},
    }
    files.append(("tokenizer_config.json", (json.dumps(cfg, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()))
    spec = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]", "unk_token": "[UNK]"}
    files.append(("special_tokens_map.json", (json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()))
    if causal:
        files.append(("vocab.json", json.dumps({t: i for i, t in enumerate(toks)}, ensure_ascii=False).encode()))
        merges = "#version: 0.2\n" + "".join("t o%d\n" % i for i in range(n_tok // 4))
        files.append(("merges.txt", merges.encode()))
    else:
        files.append(("vocab.txt", ("\n".join(toks) + "\n").encode()))
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(toks[:5])],
        "normalizer": {"type": "BertNormalizer", "lowercase": False},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "BPE" if causal else "WordPiece", "unk_token": "[UNK]", "vocab": {t: i for i, t in enumerate(toks)}},
    }
    files.append(("tokenizer.json", json.dumps(tj, indent=2, ensure_ascii=False).encode()))
    return files


def peft_readme(args):
    base = args.base_model or "meta-llama/Llama-3.2-1B"
    return (
        "---\nbase_model: %s\nlibrary_name: peft\n---\n\n# Model Card for Model ID\n\n"
        "<!-- Provide a quick summary of what the model is/does. -->\n\n\n\n## Model Details\n\n"
        "### Model Description\n\n- **Developed by:** [More Information Needed]\n\n"
        "### Framework versions\n\n- PEFT 0.17.1\n" % base
    )


def adapter_config(args, rank):
    d = {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": args.base_model or "meta-llama/Llama-3.2-1B",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "lora_alpha": 2 * rank,
        "lora_dropout": 0.05,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": rank,
        "rank_pattern": {},
        "revision": None,
        "target_modules": ["v_proj", "q_proj"],
        "task_type": "CAUSAL_LM" if args.model_type == "causal-lm" else "SEQ_CLS",
        "use_dora": False,
        "use_rslora": False,
    }
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


def training_args_obj(args, out_dir):
    """A TrainingArguments stand-in that pickles under transformers' names."""
    TA = fake_class("transformers.training_args", "TrainingArguments")
    Optim = fake_class("transformers.training_args", "OptimizerNames", enum_values=["adamw_torch"])
    Sched = fake_class("transformers.trainer_utils", "SchedulerType", enum_values=["linear"])
    Interval = fake_class("transformers.trainer_utils", "IntervalStrategy", enum_values=["no", "steps", "epoch"])
    Save = fake_class("transformers.trainer_utils", "SaveStrategy", enum_values=["no", "steps", "epoch", "best"])
    Hub = fake_class("transformers.trainer_utils", "HubStrategy", enum_values=["end", "every_save", "checkpoint", "all_checkpoints"])
    for cls in (Optim, Sched, Interval, Save, Hub):
        # Python >= 3.11 pickles enum members by name (getattr(cls, 'EPOCH')), <= 3.10 by value (cls('epoch'))
        cls.__reduce_ex__ = (lambda self, proto: (self.__class__, (self._value_,))) if args.enum_pickle == "value" else enum.Enum.__reduce_ex__
    o = TA.__new__(TA)
    o.__dict__.update(
        {
            "output_dir": out_dir,
            "overwrite_output_dir": False,
            "do_train": True,
            "do_eval": args.eval_strategy != "no",
            "eval_strategy": Interval(args.eval_strategy),
            "per_device_train_batch_size": args.batch_size,
            "per_device_eval_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "learning_rate": args.learning_rate,
            "weight_decay": 0.0,
            "adam_beta1": 0.9,
            "adam_beta2": 0.999,
            "adam_epsilon": 1e-08,
            "max_grad_norm": 1.0,
            "num_train_epochs": float(args.epochs),
            "max_steps": args.max_steps if args.max_steps else -1,
            "lr_scheduler_type": Sched("linear"),
            "warmup_ratio": 0.0,
            "warmup_steps": 0,
            "logging_strategy": Interval("steps"),
            "logging_steps": args.logging_steps,
            "save_strategy": Save(args.save_strategy),
            "save_steps": args.save_steps_recorded,
            "save_total_limit": args.save_total_limit,
            "save_safetensors": args.weights_format == "safetensors",
            "save_only_model": args.save_only_model,
            "seed": args.seed,
            "fp16": args.fp16,
            "bf16": args.dtype == "BF16",
            "local_rank": 0,
            "load_best_model_at_end": args.load_best_model_at_end,
            "metric_for_best_model": args.metric_for_best_model,
            "greater_is_better": args.greater_is_better,
            "optim": Optim("adamw_torch"),
            "label_smoothing_factor": 0.0,
            "report_to": ["tensorboard"] if not args.no_tensorboard else [],
            "push_to_hub": False,
            "hub_model_id": None,
            "hub_strategy": Hub("every_save"),
            "hub_token": args.args_hub_token,
            "_n_gpu": 1,
        }
    )
    return o


def optimizer_obj(step, lr, n_params):
    return {
        "state": {i: {"step": float(step), "exp_avg": "<storage 0>", "exp_avg_sq": "<storage 1>"} for i in range(n_params)},
        "param_groups": [{"lr": lr, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0.0, "amsgrad": False, "foreach": None, "maximize": False, "capturable": False, "differentiable": False, "fused": None, "initial_lr": lr, "params": list(range(n_params))}],
    }


def scheduler_obj(step, base_lr, lr):
    return {"base_lrs": [base_lr], "last_epoch": step, "_step_count": step + 1, "_get_lr_called_within_step": False, "_last_lr": [lr], "lr_lambdas": [None]}


def scaler_obj(step):
    return {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": step % 2000}


def rng_obj(seed, step, rank):
    st = random.Random(seed * 1000003 + step * 31 + rank).getstate()
    return {"python": st, "numpy": ("MT19937", list(st[1][:624]), 624, 0, 0.0), "cpu": "<storage 0>", "cuda": "<storage 1>"}


class Metrics:
    """Deterministic, realistic curves: a decaying training loss with noise, a
    linear learning-rate schedule, grad norms, evaluation metrics that improve
    with noise (so the best checkpoint is not always the last)."""

    def __init__(self, args, max_steps):
        self.rng = random.Random(args.seed * 7919 + 17)
        self.args = args
        self.max_steps = max_steps
        self.n_evals = 0
        self.n_logs = 0
        self.loss_sum = 0.0

    def lr(self, step):
        # LambdaLR of get_linear_schedule_with_warmup: base_lr * lambda, lambda = float(max - step) / float(max)
        return self.args.learning_rate * (float(self.max_steps - step) / float(max(1, self.max_steps)))

    def step_loss(self, step):
        x = step / self.max_steps
        v = 0.2 + 0.5 * math.exp(-3.0 * x) + self.rng.uniform(-0.04, 0.04)
        self.loss_sum += v
        return v

    def train_entry(self, step, epoch, window_losses):
        self.n_logs += 1
        e = {"epoch": epoch, "learning_rate": self.lr(step), "loss": round(sum(window_losses) / len(window_losses), 4), "step": step}
        g = self.rng.uniform(1.5, 12.0)
        if self.args.nan_grad_norm and self.n_logs == 1:
            g = float("nan")
        elif self.args.nan_grad_norm and self.n_logs == 2:
            g = float("inf")
        e["grad_norm"] = g
        if self.args.include_num_input_tokens_seen:
            e["num_input_tokens_seen"] = step * self.args.batch_size * 128
            e["train_runtime"] = round(step * 0.11, 4)
            e["train_tokens_per_second"] = round(self.args.batch_size * 128 / 0.11, 3)
        return e

    def eval_entry(self, step, epoch):
        self.n_evals += 1
        x = step / self.max_steps
        e = {"epoch": epoch, "step": step}
        loss = 0.32 + 0.3 * math.exp(-2.5 * x) + self.rng.uniform(-0.05, 0.05)
        if self.args.nan_eval_loss == self.n_evals:
            loss = float("nan")
        e["eval_loss"] = loss
        for m in self.args.eval_metrics:
            base = 0.68 + 0.2 * (1 - math.exp(-3 * x))
            e["eval_" + m] = min(0.999, base + self.rng.uniform(-0.03, 0.03))
        rt = round(self.rng.uniform(1.2, 1.9), 4)
        e["eval_runtime"] = rt
        e["eval_samples_per_second"] = round(408 / rt, 3)
        e["eval_steps_per_second"] = round(51 / rt, 3)
        return e

    def summary(self, step, epoch, runtime, total_flos):
        runtime = round(max(runtime, 0.001), 4)
        return {
            "epoch": epoch,
            "step": step,
            "total_flos": total_flos,
            "train_loss": self.loss_sum / max(1, step),
            "train_runtime": runtime,
            "train_samples_per_second": round(step * self.args.batch_size / runtime, 3),
            "train_steps_per_second": round(step / runtime, 3),
        }
