"""--layout accelerate | lightning | deepspeed (docs/trainer-layouts.md).

accelerate: Accelerator.save_state() folders (project layout
checkpoints/checkpoint_<i> with the save counter i and total_limit deleting the
lowest-numbered folders BEFORE the new save, or the no_trainer scripts' epoch_<E> /
step_<N> folders), files in save_state order, random_states_<p>.pkl from every
process last (no completion marker), final save_pretrained + all_results.json.

lightning: ModelCheckpoint files epoch=E-step=S.ckpt under
lightning_logs/version_<n>/checkpoints/, written through a temp file from mkstemp()
in the system temp dir then renamed into place (Lightning >= 2.4; --lightning-write
inplace for older), top-k deletion right after the new file, last.ckpt (a full save,
or a relative symlink with --save-last link), hparams.yaml and a TensorBoard file.

deepspeed: engine.save_checkpoint(out, "global_step<N>") per save (dscheckpoint.py),
`latest` as rank 0's last write; final save_16bit_model() -> pytorch_model.bin.
"""

import errno
import os
import re
import shutil
import tempfile
import time

from . import hfassets as A
from .common import TBWriter, model_tensors, tensor_bytes
from .dscheckpoint import write_ds_checkpoint


class _Base:
    def __init__(self, ctx, args):
        self.ctx, self.a, self.out = ctx, args, args.out
        spe = args.steps_per_epoch
        self.max_steps = args.max_steps if args.max_steps else args.epochs * spe
        self.tensors, self.hidden = model_tensors(args.model_size, args.dtype, causal=args.model_type == "causal-lm")
        self.model_bytes = sum(tensor_bytes(t) for t in self.tensors)
        self.metrics = A.Metrics(args, self.max_steps)

    def delete(self, p):
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            os.unlink(p)
        self.ctx.append_event({"event": "delete", "path": os.path.relpath(p, self.out), "time": time.time()})
        self.ctx.log("deleted %s" % os.path.relpath(p, self.out))

    def save_points(self):
        """Yield (step, epoch_index, is_epoch_end, is_last) where a save happens."""
        a = self.a
        for step in range(1, self.max_steps + 1):
            if a.step_time > 0:
                time.sleep(a.step_time)
            self.metrics.step_loss(step)
            epoch_end = step % a.steps_per_epoch == 0
            last = step == self.max_steps
            if a.save_strategy == "epoch" and epoch_end:
                yield step, (step - 1) // a.steps_per_epoch, True, last
            elif a.save_strategy == "steps" and step % a.save_steps == 0:
                yield step, (step - 1) // a.steps_per_epoch, epoch_end, last
            else:
                continue
            if a.save_pause > 0 and not last:
                time.sleep(a.save_pause)

    def files_under(self, d):
        return sorted(os.path.relpath(os.path.join(r, f), self.out) for r, _, fs in os.walk(d) for f in fs)

    def finish(self, final):
        a = self.a
        if a.crash_before_final_save:
            self.ctx.log("crashing before the final save (--crash-before-final-save)")
            return a.exit_code if a.exit_code else 1
        if not a.no_final_save:
            self.ctx.begin_save()
            final()
            self.ctx.emit_save("final", "final", self.max_steps, list(self.ctx.written_in_save), extra={"dir": "."})
        return a.exit_code


class AccelerateRun(_Base):
    def run(self):
        ctx, a = self.ctx, self.a
        os.makedirs(self.out, exist_ok=True)
        counter = 0
        for step, epoch, _, _ in self.save_points():
            if a.accelerate_naming == "automatic":
                base = os.path.join(self.out, "checkpoints")
                os.makedirs(base, exist_ok=True)
                if a.save_total_limit:  # total_limit: delete BEFORE writing the new folder
                    folders = [os.path.join(base, f) for f in os.listdir(base)]
                    if len(folders) + 1 > a.save_total_limit:
                        folders.sort(key=lambda f: int(re.findall(r"[\/]?([0-9]+)(?=[^\/]*$)", f)[0]))
                        for f in folders[: len(folders) + 1 - a.save_total_limit]:
                            self.delete(f)
                name = "checkpoints/checkpoint_%d" % counter
            elif a.accelerate_naming == "epoch":
                name = "epoch_%d" % epoch
            else:
                name = "step_%d" % step
            d = os.path.join(self.out, name)
            if a.accelerate_naming == "automatic" and os.path.exists(d):
                raise SystemExit("fake_trainer: Checkpoint directory %s (%d) already exists. Please manually override `self.save_iteration` with what iteration to start with." % (d, counter))
            ctx.begin_save()
            if a.crash_during_save == step:
                ctx.crash_after_bytes = max(1, self.model_bytes // 2)
            os.makedirs(d, exist_ok=True)
            ctx.write_safetensors(os.path.join(d, "model.safetensors"), self.tensors, "weights@%d" % step)
            ob = int(self.model_bytes * a.optimizer_factor)
            ctx.write_torch(os.path.join(d, "optimizer.bin"), A.optimizer_obj(step, self.metrics.lr(step), len(self.tensors)), [("optim@%d:m" % step, ob // 2), ("optim@%d:v" % step, ob - ob // 2)])
            ctx.write_torch(os.path.join(d, "scheduler.bin"), A.scheduler_obj(step, a.learning_rate, self.metrics.lr(step)))
            if a.fp16:
                ctx.write_torch(os.path.join(d, "scaler.pt"), A.scaler_obj(step))
            ranks = list(range(a.world_size))
            if a.rank_files == "late":
                ranks = [0]
            for p in ranks:
                ctx.write_pickle(os.path.join(d, "random_states_%d.pkl" % p), {"step": step, "random_state": A.rng_obj(a.seed, step, p)["python"], "numpy_random_seed": None, "torch_manual_seed": "<bytes>", "torch_cuda_manual_seed": ["<bytes>"]})
            if a.rank_files == "late":
                if a.late_rank_delay > 0:
                    time.sleep(a.late_rank_delay)
                for p in range(1, a.world_size):
                    ctx.write_pickle(os.path.join(d, "random_states_%d.pkl" % p), {"step": step, "random_state": A.rng_obj(a.seed, step, p)["python"]})
            ctx.emit_save("checkpoint", name, step, self.files_under(d), extra={"dir": name})
            counter += 1

        def final():
            ctx.write_text(os.path.join(self.out, "config.json"), A.model_config(a, self.hidden, sum(1 for t in self.tensors if t[0].endswith("q_proj.weight")), self.tensors[0][2][0]))
            ctx.write_safetensors(os.path.join(self.out, "model.safetensors"), self.tensors, "weights@%d" % self.max_steps)
            if not a.no_tokenizer:
                for n, data in A.tokenizer_files(a):
                    ctx.write_bytes(os.path.join(self.out, n), data)
            e = self.metrics.eval_entry(self.max_steps, self.max_steps / a.steps_per_epoch)
            ctx.write_text(os.path.join(self.out, "all_results.json"), '{"eval_accuracy": %r}' % e.get("eval_accuracy", 0.8))

        return self.finish(final)


class LightningRun(_Base):
    def run(self):
        ctx, a = self.ctx, self.a
        logs = os.path.join(self.out, "lightning_logs")
        v = 0
        while os.path.exists(os.path.join(logs, "version_%d" % v)):
            v += 1
        vdir = os.path.join(logs, "version_%d" % v)
        self.ckdir = a.lightning_dirpath or os.path.join(vdir, "checkpoints")
        os.makedirs(vdir, exist_ok=True)
        tb = None if a.no_tensorboard else TBWriter(ctx, vdir)
        ctx.write_text(os.path.join(vdir, "hparams.yaml"), "learning_rate: %r\nbatch_size: %d\nseed: %d\n" % (a.learning_rate, a.batch_size, a.seed))
        k = a.save_top_k
        monitor = k not in (-1, 0, 1)
        kept = []  # (val_loss, path) of top-k files
        last_topk = None
        for step, epoch, _, _ in self.save_points():
            e = self.metrics.eval_entry(step, epoch)
            val = e["eval_loss"]
            if tb:
                tb.scalars(step, [("val_loss", val), ("epoch", float(epoch))])
            fn = "epoch=%d-step=%d.ckpt" % (epoch, step)
            path = os.path.join(self.ckdir, fn)
            save_topk = k != 0
            if monitor and len(kept) >= k and not (val < max(kept)[0]):
                save_topk = False  # not better than the current k-th best: no file at all
            if a.crash_during_save == step:
                ctx.crash_after_bytes = max(1, self.model_bytes // 2)
            if save_topk:
                self.write_ckpt(path, step, epoch, val)
                ctx.emit_save("checkpoint", os.path.relpath(path, self.out), step, [os.path.relpath(path, self.out)])
                kept.append((val, path))
                prev = last_topk
                last_topk = path
                if k == 1 and prev and prev != path and os.path.exists(prev):
                    self.delete(prev)
                    kept = [x for x in kept if x[1] != prev]
                elif monitor and len(kept) > k:
                    worst = max(kept)
                    kept.remove(worst)
                    self.delete(worst[1])
            if a.save_last != "none":
                lp = os.path.join(self.ckdir, "last.ckpt")
                if a.save_last == "link" and last_topk:
                    ctx.begin_save()
                    if os.path.lexists(lp):
                        os.unlink(lp)
                    os.symlink(os.path.basename(last_topk), lp)
                    ctx._touched(lp)
                else:
                    self.write_ckpt(lp, step, epoch, val)
                ctx.emit_save("last", os.path.relpath(lp, self.out), step, [os.path.relpath(lp, self.out)])
        if a.crash_before_final_save:  # Lightning has no final save; the crash is the exit status
            return a.exit_code if a.exit_code else 1
        return a.exit_code

    def write_ckpt(self, path, step, epoch, val):
        ctx, a = self.ctx, self.a
        ctx.begin_save()
        obj = {
            "epoch": epoch,
            "global_step": step,
            "pytorch-lightning_version": "2.5.1",
            "state_dict": "<storage 0>",
            "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": epoch}}}},
            "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}": {"best_model_score": val, "dirpath": self.ckdir}},
            "optimizer_states": [A.optimizer_obj(step, self.metrics.lr(step), 2)],
            "lr_schedulers": [A.scheduler_obj(step, a.learning_rate, self.metrics.lr(step))],
            "hparams_name": "kwargs",
            "hyper_parameters": {"learning_rate": a.learning_rate, "batch_size": a.batch_size},
        }
        ob = int(self.model_bytes * a.optimizer_factor)
        storages = [("weights@%d" % step, self.model_bytes), ("optim@%d" % step, ob)]
        os.makedirs(self.ckdir, exist_ok=True)
        if a.lightning_write == "inplace":
            ctx.write_torch(path, obj, storages, archive="archive")
            return
        tmpdir = a.tmpdir or tempfile.gettempdir()
        fd, tmp = tempfile.mkstemp(dir=tmpdir)
        os.close(fd)
        ctx.write_torch(tmp, obj, storages, archive="archive", sid_key=self.ctx.rel(path))
        ctx.written_in_save = []
        try:
            os.replace(tmp, path)  # fsspec transaction commit: a rename when on one filesystem
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            shutil.copyfile(tmp, path)  # across filesystems: create + writes + close
            os.unlink(tmp)
        ctx._touched(path)


class DeepSpeedRun(_Base):
    def run(self):
        ctx, a = self.ctx, self.a
        os.makedirs(self.out, exist_ok=True)
        for step, _, _, _ in self.save_points():
            tag = "global_step%d" % step
            ctx.begin_save()
            if a.crash_during_save == step:
                ctx.crash_after_bytes = max(1, self.model_bytes // 2)
            late = []
            files = write_ds_checkpoint(ctx, self.out, tag, step, a, self.model_bytes, late)
            marker = ctx.last_write
            if late:
                if a.late_rank_delay > 0:
                    time.sleep(a.late_rank_delay)
                for w in late:
                    w()
            ctx.emit_save("checkpoint", tag, step, files, marker_time=marker, extra={"dir": tag})

        def final():  # engine.save_16bit_model(out)
            ctx.write_torch(os.path.join(self.out, "pytorch_model.bin"), {"state_dict": [t[0] for t in self.tensors]}, [("weights@%d" % self.max_steps, self.model_bytes)])

        return self.finish(final)
