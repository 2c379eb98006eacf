"""--layout trainer: a transformers Trainer run (docs/trainer-layouts.md).

Simulates the training loop of Trainer.train() (DefaultFlowCallback decisions for
logging, evaluation and saving), writes each checkpoint-N in the order of
_save_checkpoint (§2.3), optionally staged in tmp-checkpoint-N and renamed
(transformers 4.36–4.38, §2.5), rotates with _sorted_checkpoints /
_rotate_checkpoints including the best-model rule (§2.6), and ends with the
example-script sequence save_model → save_metrics("train") → save_state →
evaluate + save_metrics("eval") into output_dir (§2.7, §2.8).
"""

import json
import math
import os
import re
import shutil
import socket
import time
import datetime
import random

from . import hfassets as A
from .common import TBWriter, model_tensors, split_shards, tensor_bytes, DTYPE_SIZES
from .dscheckpoint import write_ds_checkpoint


class TrainerRun:
    def __init__(self, ctx, args):
        self.ctx, self.a = ctx, args
        self.out = args.out
        spe = args.steps_per_epoch
        self.max_steps = args.max_steps if args.max_steps else args.epochs * spe
        self.num_epochs = math.ceil(self.max_steps / spe)
        self.tensors, self.hidden = model_tensors(args.model_size, args.dtype, causal=args.model_type == "causal-lm")
        self.n_layers = sum(1 for t in self.tensors if t[0].endswith("self_attn.q_proj.weight"))
        self.vocab = self.tensors[0][2][0]
        self.model_bytes = sum(tensor_bytes(t) for t in self.tensors)
        if args.peft:
            r = 8
            self.adapter = []
            for i in range(self.n_layers):
                for proj in ("q_proj", "v_proj"):
                    p = "base_model.model.model.layers.%d.self_attn.%s." % (i, proj)
                    self.adapter.append((p + "lora_A.weight", args.dtype, (r, self.hidden)))
                    self.adapter.append((p + "lora_B.weight", args.dtype, (self.hidden, r)))
            self.adapter.sort()
            self.lora_r = r
        self.metrics = A.Metrics(args, self.max_steps)
        self.log_history = []
        self.best_metric = None
        self.best_global_step = None
        self.best_model_checkpoint = None
        self.total_flos = 0.0
        self.tokenizer = [] if args.no_tokenizer else A.tokenizer_files(args)
        self.late_writers = []
        self.tb = None

    # -- state ---------------------------------------------------------
    def state(self, step, final=False):
        a = self.a
        eval_steps = a.eval_steps if a.eval_steps else (a.logging_steps if a.eval_strategy == "steps" else 500)
        save_steps = a.save_steps_recorded
        return {
            "best_global_step": self.best_global_step,
            "best_metric": self.best_metric,
            "best_model_checkpoint": self.best_model_checkpoint,
            "epoch": float("nan") if a.nan_epoch else step / a.steps_per_epoch,
            "eval_steps": eval_steps,
            "global_step": step,
            "is_hyper_param_search": False,
            "is_local_process_zero": True,
            "is_world_process_zero": True,
            "log_history": list(self.log_history),
            "logging_steps": a.logging_steps,
            "max_steps": self.max_steps,
            "num_input_tokens_seen": step * a.batch_size * 128 if a.include_num_input_tokens_seen else 0,
            "num_train_epochs": self.num_epochs,
            "save_steps": save_steps,
            "stateful_callbacks": {
                "TrainerControl": {
                    "args": {
                        "should_epoch_stop": False,
                        "should_evaluate": False,
                        "should_log": False,
                        "should_save": not final,
                        "should_training_stop": final or step >= self.max_steps,
                    },
                    "attributes": {},
                }
            },
            "total_flos": self.total_flos,
            "train_batch_size": a.batch_size,
            "trial_name": None,
            "trial_params": None,
        }

    def state_json(self, step, final=False):
        # json.dumps default allow_nan=True: NaN / Infinity literals, as the Trainer writes
        return json.dumps(self.state(step, final), indent=2, sort_keys=True) + "\n"

    # -- files of save_model -------------------------------------------
    def save_model(self, d, weights_step, staged_name=None):
        """save_pretrained + tokenizer + training_args.bin into d (rank 0)."""
        ctx, a = self.ctx, self.a
        os.makedirs(d, exist_ok=True)
        if a.peft:
            ctx.write_text(os.path.join(d, "README.md"), A.peft_readme(a))
            ctx.write_safetensors(os.path.join(d, "adapter_model.safetensors"), self.adapter, "adapter@%d" % weights_step)
            ctx.write_text(os.path.join(d, "adapter_config.json"), A.adapter_config(a, self.lora_r))
        else:
            ctx.write_text(os.path.join(d, "config.json"), A.model_config(a, self.hidden, self.n_layers, self.vocab))
            if a.model_type == "causal-lm":
                ctx.write_text(os.path.join(d, "generation_config.json"), A.generation_config())
            self.write_weights(d, weights_step)
        for name, data in self.tokenizer:
            ctx.write_bytes(os.path.join(d, name), data)
        ctx.write_torch(os.path.join(d, "training_args.bin"), A.training_args_obj(a, self.out))

    def write_weights(self, d, step):
        ctx, a = self.ctx, self.a
        key = "weights@%d" % step
        st = a.weights_format == "safetensors"
        base, ext = ("model", ".safetensors") if st else ("pytorch_model", ".bin")
        if a.shards <= 1:
            if st:
                ctx.write_safetensors(os.path.join(d, base + ext), self.tensors, key)
            else:
                ctx.write_torch(os.path.join(d, base + ext), {"state_dict": [t[0] for t in self.tensors]}, [(key, self.model_bytes)])
            return
        groups = split_shards(self.tensors, a.shards)
        k = len(groups)
        weight_map = {}
        for i, g in enumerate(groups):
            fn = "%s-%05d-of-%05d%s" % (base, i + 1, k, ext)
            skey = "%s:shard%d" % (key, i)
            if st:
                ctx.write_safetensors(os.path.join(d, fn), g, skey)
            else:
                ctx.write_torch(os.path.join(d, fn), {"state_dict": [t[0] for t in g]}, [(skey, sum(tensor_bytes(t) for t in g))])
            for t in g:
                weight_map[t[0]] = fn
        index = {"metadata": {"total_parameters": self.model_bytes // DTYPE_SIZES[a.dtype], "total_size": self.model_bytes}, "weight_map": weight_map}
        ctx.write_text(os.path.join(d, base + ext + ".index.json"), json.dumps(index, indent=2, sort_keys=True) + "\n")

    # -- one checkpoint (_save_checkpoint) -------------------------------
    def save_checkpoint(self, step):
        ctx, a = self.ctx, self.a
        name = "checkpoint-%d" % step
        final_dir = os.path.join(self.out, name)
        if a.tmp_checkpoint == "fixed":
            d = os.path.join(self.out, "tmp-" + name)
        elif a.tmp_checkpoint == "random":
            d = os.path.join(self.out, "tmp-checkpoint-%08x" % random.Random(a.seed * 31 + step).getrandbits(32))
        else:
            d = final_dir
        ctx.begin_save()
        if a.crash_during_save == step:
            ctx.crash_after_bytes = max(1, self.model_bytes // 2)
        W = a.world_size
        other_rng = ["rng_state_%d.pth" % r for r in range(1, W)] if W > 1 else []
        # Other ranks skip _save. When a best step is known they wait at the barrier
        # before the best_model_checkpoint check (i.e. until rank 0's model files are
        # written); otherwise they go straight on and write their RNG state first.
        barrier = bool(self.best_global_step) and a.save_strategy in ("steps", "epoch", "best")
        if a.rank_files == "early" and not a.save_only_model and not barrier:
            for fn in other_rng:
                self.write_rng(d, fn, step)
        self.save_model(d, step)
        if a.rank_files == "early" and not a.save_only_model and barrier:
            for fn in other_rng:
                self.write_rng(d, fn, step)
        # best_model_checkpoint: set inside the save once the best step's folder exists
        if a.save_strategy in ("steps", "epoch", "best") and self.best_global_step:
            bdir = os.path.join(self.out, "checkpoint-%d" % self.best_global_step)
            if os.path.exists(bdir) or (a.tmp_checkpoint != "none" and self.best_global_step == step):
                self.best_model_checkpoint = bdir
        if not a.save_only_model:
            if a.deepspeed:
                write_ds_checkpoint(ctx, d, "global_step%d" % step, step, a, self.model_bytes, self.late_writers)
            else:
                obytes = int(self.opt_base_bytes() * a.optimizer_factor)
                ctx.write_torch(os.path.join(d, "optimizer.pt"), A.optimizer_obj(step, self.metrics.lr(step), len(self.tensors)), [("optim@%d:m" % step, obytes // 2), ("optim@%d:v" % step, obytes - obytes // 2)])
                ctx.write_torch(os.path.join(d, "scheduler.pt"), A.scheduler_obj(step, a.learning_rate, self.metrics.lr(step)))
                if a.fp16:
                    ctx.write_torch(os.path.join(d, "scaler.pt"), A.scaler_obj(step))
            self.write_rng(d, "rng_state.pth" if W == 1 else "rng_state_0.pth", step)
        ctx.write_text(os.path.join(d, "trainer_state.json"), self.state_json(step))
        marker = ctx.last_write
        if d != final_dir and a.rank_files == "late" and not a.save_only_model:
            # 4.36-4.38 wait_for_everyone() before the rename: late ranks land in the staging dir
            self.write_late(d, other_rng, step)
        if d != final_dir:  # 4.36-4.38: rename after the save (and after the push was queued)
            if os.path.exists(final_dir):
                shutil.rmtree(final_dir)
            os.rename(d, final_dir)
            ctx.written_in_save = [p.replace(os.path.basename(d), name, 1) for p in ctx.written_in_save]
            ctx.last_write, ctx.last_write_mono = time.time(), time.monotonic_ns()
            marker = ctx.last_write
        if d == final_dir and a.rank_files == "late" and not a.save_only_model:
            self.write_late(final_dir, other_rng, step)
        self.late_writers = []
        files = sorted(os.path.relpath(os.path.join(r, f), self.out) for r, _, fs in os.walk(final_dir) for f in fs)
        ctx.emit_save("checkpoint", name, step, files, marker_time=marker, extra={"dir": name})
        self.rotate(use_mtime=True)

    def write_late(self, d, other_rng, step):
        """Other ranks' files arriving after rank 0's trainer_state.json."""
        if self.a.late_rank_delay > 0:
            time.sleep(self.a.late_rank_delay)
        for fn in other_rng:
            self.write_rng(d, fn, step)
        for w in self.late_writers:
            w()
        self.late_writers = []

    def opt_base_bytes(self):
        return sum(tensor_bytes(t) for t in self.adapter) if self.a.peft else self.model_bytes

    def write_rng(self, d, fn, step):
        rank = int(fn[10:-4]) if fn != "rng_state.pth" else 0
        self.ctx.write_torch(os.path.join(d, fn), A.rng_obj(self.a.seed, step, rank), [("rng@%d:%d:cpu" % (step, rank), 5056), ("rng@%d:%d:cuda" % (step, rank), 16)])

    # -- rotation (§2.6) -------------------------------------------------
    def sorted_checkpoints(self, use_mtime):
        paths = [os.path.join(self.out, n) for n in os.listdir(self.out) if n.startswith("checkpoint-") and os.path.isdir(os.path.join(self.out, n))]
        order = []
        for p in paths:
            if use_mtime:
                order.append((os.path.getmtime(p), p))
            else:
                m = re.match(r".*checkpoint-([0-9]+)", p)
                if m:
                    order.append((int(m.group(1)), p))
        order.sort()
        if use_mtime and len(order) > 1 and order[-1][0] - order[0][0] < 1.0:
            return self.sorted_checkpoints(False)
        cps = [p for _, p in order]
        best = self.best_model_checkpoint
        if best is not None and os.path.normpath(best) in cps:
            i = cps.index(os.path.normpath(best))
            for j in range(i, len(cps) - 2):
                cps[j], cps[j + 1] = cps[j + 1], cps[j]
        return cps

    def rotate(self, use_mtime):
        limit = self.a.save_total_limit
        if not limit or limit <= 0:
            return
        cps = self.sorted_checkpoints(use_mtime)
        if len(cps) <= limit:
            return
        if self.best_model_checkpoint is not None and limit == 1 and cps[-1] != os.path.normpath(self.best_model_checkpoint):
            limit = 2
        for p in cps[: max(0, len(cps) - limit)]:
            self.delete(p)

    def delete(self, p):
        shutil.rmtree(p, ignore_errors=True)
        self.ctx.append_event({"event": "delete", "path": os.path.relpath(p, self.out), "time": time.time()})
        self.ctx.log("deleted %s" % os.path.relpath(p, self.out))

    # -- the loop --------------------------------------------------------
    def run(self):
        ctx, a = self.ctx, self.a
        os.makedirs(self.out, exist_ok=True)
        start = time.time()
        if not a.no_tensorboard:
            logdir = os.path.join(self.out, "runs", datetime.datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname())
            self.tb = TBWriter(ctx, logdir)
        flos_per_step = 6.0 * (self.model_bytes / DTYPE_SIZES[a.dtype]) * a.batch_size * 128
        window = []
        last_saved = None
        for step in range(1, self.max_steps + 1):
            if a.step_time > 0:
                time.sleep(a.step_time)
            window.append(self.metrics.step_loss(step))
            self.total_flos += flos_per_step
            epoch = step / a.steps_per_epoch
            epoch_end = step % a.steps_per_epoch == 0
            last = step >= self.max_steps
            if step % a.logging_steps == 0:
                e = self.metrics.train_entry(step, epoch, window)
                window = []
                self.log(e)
            do_eval = (a.eval_strategy == "steps" and step % (a.eval_steps or a.logging_steps) == 0) or (a.eval_strategy == "epoch" and epoch_end)
            improved = False
            if do_eval:
                e = self.metrics.eval_entry(step, epoch)
                self.log(e)
                improved = self.update_best(e, step)
            do_save = (a.save_strategy == "steps" and (step % a.save_steps == 0 or last)) or (a.save_strategy == "epoch" and epoch_end) or (a.save_strategy == "best" and improved)
            if do_save:
                self.save_checkpoint(step)
                last_saved = step
                if a.save_pause > 0 and not last:
                    time.sleep(a.save_pause)
        step = self.max_steps
        if a.crash_before_final_save:
            ctx.log("crashing before the final save (--crash-before-final-save)")
            return a.exit_code if a.exit_code else 1
        # end of train(): best reload, summary entry, end-of-training rotation
        summary = self.metrics.summary(step, step / a.steps_per_epoch, time.time() - start, self.total_flos)
        self.log(summary)
        weights_step = step if last_saved is None else last_saved
        if a.load_best_model_at_end and self.best_global_step and self.best_model_checkpoint and os.path.isdir(self.best_model_checkpoint):
            weights_step = self.best_global_step
            if a.best_reload_time > 0:  # _load_best_model reads the weights back
                time.sleep(a.best_reload_time)
        if self.best_model_checkpoint is not None and a.save_total_limit == 1:
            for p in self.sorted_checkpoints(False):
                if os.path.normpath(p) != os.path.normpath(self.best_model_checkpoint):
                    self.delete(p)
        if not a.no_final_save:
            self.final_save(step, weights_step, summary)
        return a.exit_code

    def log(self, entry):
        self.log_history.append(entry)
        if self.tb:
            pre = "eval/" if "eval_loss" in entry else "train/"
            vals = [(pre + k[5:] if k.startswith("eval_") else pre + k, v) for k, v in sorted(entry.items()) if k != "step" and isinstance(v, (int, float))]
            self.tb.scalars(entry["step"], vals)

    def update_best(self, e, step):
        a = self.a
        if not a.metric_for_best_model:
            return False
        key = a.metric_for_best_model if a.metric_for_best_model.startswith("eval_") else "eval_" + a.metric_for_best_model
        v = e[key]
        if self.best_metric is None:
            self.best_metric = float("-inf") if a.greater_is_better else float("inf")
        if (v > self.best_metric) if a.greater_is_better else (v < self.best_metric):
            self.best_metric = v
            self.best_global_step = step
            return True
        return False

    # -- example-script end (§2.8) ----------------------------------------
    def final_save(self, step, weights_step, summary):
        ctx, a = self.ctx, self.a
        ctx.begin_save()
        self.save_model(self.out, weights_step)
        train_metrics = {k: v for k, v in summary.items() if k not in ("step",)}
        train_metrics["train_samples"] = step * a.batch_size
        self.save_metrics("train", train_metrics)
        ctx.write_text(os.path.join(self.out, "trainer_state.json"), self.state_json(step, final=True))
        if a.eval_strategy != "no":
            e = self.metrics.eval_entry(step, step / a.steps_per_epoch)
            self.log(e)  # in memory only: save_state ran before evaluate()
            m = {k: v for k, v in e.items() if k != "step"}
            m["eval_samples"] = 408
            self.save_metrics("eval", m)
        files = [p for p in ctx.written_in_save if os.path.exists(os.path.join(self.out, p))]
        if self.tb and os.path.relpath(self.tb.path, self.out) not in files:
            files.append(os.path.relpath(self.tb.path, self.out))
        ctx.emit_save("final", "final", step, files, extra={"dir": ".", "weights_step": weights_step})

    def save_metrics(self, split, metrics):
        path = os.path.join(self.out, "%s_results.json" % split)
        self.ctx.write_text(path, json.dumps(metrics, indent=4, sort_keys=True))
        allp = os.path.join(self.out, "all_results.json")
        cur = {}
        if os.path.exists(allp):
            with open(allp) as f:
                cur = json.load(f)
        cur.update(metrics)
        self.ctx.write_text(allp, json.dumps(cur, indent=4, sort_keys=True))

