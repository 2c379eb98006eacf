#!/usr/bin/python3
"""fake_trainer: writes training output directories exactly as real trainers do
(transformers Trainer, accelerate, PyTorch Lightning, DeepSpeed), fast and
deterministically, so hubsync's watcher, uploader and model-card tests and the
demo can play a realistic training run in seconds. Standard library only.

This file owns the command line, signal behaviour and dispatch; the layouts live
in ftlib/ (hftrainer.py, others.py, dscheckpoint.py), the shared write machinery
in ftlib/common.py. See README.md for the exact file sets per layout.
"""

import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ftlib.common import Ctx, parse_size  # noqa: E402
from ftlib.hftrainer import TrainerRun  # noqa: E402
from ftlib.others import AccelerateRun, DeepSpeedRun, LightningRun  # noqa: E402

EPILOG = """
layouts (docs/trainer-layouts.md section in brackets; README.md lists every file):
  trainer     OUT/checkpoint-N/ per save [2.3, 2.4], trainer_state.json last, rotation [2.6],
              final save into OUT [2.7, 2.8], runs/<date>_<host>/events.out.tfevents.*
  accelerate  OUT/checkpoints/checkpoint_<i>/ (or OUT/epoch_<E>/, OUT/step_<N>/) [2.10]
  lightning   OUT/lightning_logs/version_<v>/checkpoints/epoch=E-step=S.ckpt, last.ckpt [2.10]
  deepspeed   OUT/global_stepN/ shards, OUT/latest written last, zero_to_fp32.py [2.10]

--events FILE gets one JSON line per completed save:
  {"event":"save","kind":"checkpoint"|"last"|"final","name":..,"dir":..,"step":N,
   "time":<unix time of the save's last byte>,"monotonic_us":<CLOCK_MONOTONIC of it>,
   "marker_time":<unix time of the completion marker>,
   "files":[{"path":<relative to OUT>,"size":..,"sha256":..}|{"path":..,"symlink":..}]}
  plus {"event":"delete","path":..,"time":..} for rotation and {"event":"signal",...}.

exit status: --exit-code (0) after a complete run; 1 (or --exit-code when non-zero) with
--crash-before-final-save / --crash-during-save; usage errors 2. SIGTERM/SIGINT: a line on
stderr and a "signal" event, then the process dies by that signal (default action, the shell
sees 128+N), as a Python program does. SIGUSR1/2: default action unless --catch-usr.
"""


def size_arg(s):
    try:
        return parse_size(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def build_parser():
    p = argparse.ArgumentParser(
        prog="fake_trainer.py",
        description="Write a training run's output directory the way real trainers do, fast.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("run")
    g.add_argument("--layout", choices=["trainer", "accelerate", "lightning", "deepspeed"], default="trainer",
                   help="which trainer's output to write (default trainer = transformers Trainer)")
    g.add_argument("--out", required=True, help="output directory (transformers output_dir; created)")
    g.add_argument("--seed", type=int, default=42, help="content and metrics seed (default 42)")
    g.add_argument("--epochs", type=int, default=3, help="num_train_epochs (default 3)")
    g.add_argument("--steps-per-epoch", type=int, default=10, help="optimizer steps per epoch (default 10)")
    g.add_argument("--max-steps", type=int, default=0, help="total steps; overrides epochs x steps-per-epoch")
    g.add_argument("--save-strategy", choices=["steps", "epoch", "best", "no"], default="steps",
                   help="steps (default): every --save-steps and at the last step; epoch; best (trainer, "
                        "needs --metric-for-best-model); no")
    g.add_argument("--save-steps", type=int, default=None,
                   help="save interval in steps (default 10; recorded as 500, the Trainer default, when not saving by steps)")
    g.add_argument("--save-total-limit", type=int, default=0,
                   help="trainer: save_total_limit rotation; accelerate: total_limit (0 = keep all)")
    g.add_argument("--logging-steps", type=int, default=5, help="train log entry interval (default 5)")
    g.add_argument("--eval-strategy", choices=["no", "steps", "epoch"], default="epoch", help="default epoch")
    g.add_argument("--eval-steps", type=int, default=0, help="eval interval with --eval-strategy steps (default logging steps)")
    g.add_argument("--eval-metrics", default="accuracy,f1", help="comma list of eval_<name> metrics (default accuracy,f1; '' for none)")
    g.add_argument("--metric-for-best-model", default=None, help="e.g. loss, accuracy (sets best_metric/best_model_checkpoint)")
    g.add_argument("--greater-is-better", default=None, choices=["true", "false"], help="default: false for loss, else true")
    g.add_argument("--load-best-model-at-end", action="store_true", help="final OUT weights = best checkpoint's; metric defaults to loss")
    g.add_argument("--best-reload-time", type=float, default=0.08,
                   help="seconds the end of train() takes to read the best checkpoint's weights back before its "
                        "rotation (default 0.08: the Trainer deletes the last checkpoint <= 100 ms after writing it; 0 = at once)")
    g.add_argument("--batch-size", type=int, default=8, help="per-device train batch size (default 8)")
    g.add_argument("--learning-rate", type=float, default=5e-05, help="initial LR of the linear schedule (default 5e-05)")
    g.add_argument("--world-size", type=int, default=None,
                   help="ranks: rng_state_<r>.pth / random_states_<r>.pkl / ZeRO shards (default $WORLD_SIZE as "
                        "torchrun sets it, else 1)")
    g.add_argument("--rank-files", choices=["early", "late"], default="early",
                   help="when other ranks write their files: early (before rank 0's, the usual case) or late "
                        "(after rank 0's completion marker, after --late-rank-delay)")
    g.add_argument("--late-rank-delay", type=float, default=0.5, help="seconds (default 0.5)")

    g = p.add_argument_group("model and files")
    g.add_argument("--model-size", type=size_arg, default=parse_size("2M"), help="weights bytes, e.g. 2M (default), 1G")
    g.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32", help="safetensors dtype of the weights (default F32)")
    g.add_argument("--shards", type=int, default=1, help="weight shards: model-0000i-of-0000K.safetensors + index (default 1)")
    g.add_argument("--weights-format", choices=["safetensors", "bin"], default="safetensors", help="bin = save_safetensors=False")
    g.add_argument("--model-type", choices=["classifier", "causal-lm"], default="classifier",
                   help="classifier (BERT-like) or causal-lm (adds generation_config.json, chat template, BPE files)")
    g.add_argument("--base-model", default=None, help="recorded as _name_or_path / PEFT base_model_name_or_path")
    g.add_argument("--peft", action="store_true", help="PEFT/LoRA: README.md, adapter_model.safetensors, adapter_config.json")
    g.add_argument("--optimizer-factor", type=float, default=2.0, help="optimizer state size / weights size (default 2, Adam)")
    g.add_argument("--tokenizer-size", type=size_arg, default=parse_size("16K"), help="approximate tokenizer.json size")
    g.add_argument("--no-tokenizer", action="store_true", help="no tokenizer files (a model saved without processing_class)")
    g.add_argument("--fp16", action="store_true", help="adds scaler.pt")
    g.add_argument("--save-only-model", action="store_true", help="no optimizer/scheduler/scaler/rng files")
    g.add_argument("--tmp-checkpoint", choices=["none", "fixed", "random"], default="none",
                   help="fixed: write tmp-checkpoint-N then rename (transformers 4.36-4.38); random: "
                        "tmp-checkpoint-xxxxxxxx (4.49.0.dev0)")
    g.add_argument("--deepspeed", action="store_true", help="trainer: DeepSpeed engine checkpoint inside checkpoint-N")
    g.add_argument("--zero-stage", type=int, choices=[0, 1, 2, 3], default=2,
                   help="DeepSpeed ZeRO stage (default 2; 3 = per-rank model-state files, 0 = no optimizer shards)")
    g.add_argument("--mp-size", type=int, default=1, help="DeepSpeed model-parallel size (default 1)")
    g.add_argument("--ds-bf16", action="store_true", help="bf16_zero_pp_rank_* optimizer shard names")
    g.add_argument("--nan-grad-norm", action="store_true", help="grad_norm NaN in the 1st and Infinity in the 2nd train log entry")
    g.add_argument("--nan-epoch", action="store_true", help="trainer_state.json's top-level epoch is NaN (a run whose epoch "
                   "counter broke; the Trainer writes it as it is)")
    g.add_argument("--nan-eval-loss", type=int, default=0, metavar="K", help="the K-th evaluation has eval_loss NaN")
    g.add_argument("--include-num-input-tokens-seen", action="store_true",
                   help="log entries carry num_input_tokens_seen, train_runtime, train_tokens_per_second")
    g.add_argument("--args-hub-token", default=None, help="hub_token stored in training_args.bin (secret-scrubbing tests)")
    g.add_argument("--enum-pickle", choices=["name", "value"], default="name",
                   help="how training_args.bin pickles enums: by name (Python >= 3.11, default) or by value (<= 3.10)")
    g.add_argument("--no-tensorboard", action="store_true", help="no runs/ (or lightning) event file")
    g.add_argument("--accelerate-naming", choices=["automatic", "epoch", "step"], default="automatic",
                   help="checkpoints/checkpoint_<i> (ProjectConfiguration), epoch_<E> or step_<N>")
    g.add_argument("--save-top-k", type=int, default=1, help="lightning (default 1; -1 all; >1 monitors val_loss)")
    g.add_argument("--save-last", choices=["none", "true", "link"], default="none", help="lightning last.ckpt")
    g.add_argument("--lightning-write", choices=["tempfile", "inplace"], default="tempfile",
                   help="tempfile: mkstemp in --tmpdir then rename (>= 2.4); inplace (< 2.4)")
    g.add_argument("--lightning-dirpath", default=None, metavar="DIR",
                   help="ModelCheckpoint(dirpath=DIR) (default OUT/lightning_logs/version_<v>/checkpoints)")
    g.add_argument("--tmpdir", default=None, help="lightning temp dir (default: the system temp dir)")

    g = p.add_argument_group("timing, ending, observation")
    g.add_argument("--chunk-bytes", type=size_arg, default=parse_size("4M"), help="write() size (default 4M)")
    g.add_argument("--chunk-pause", type=float, default=0.0, help="seconds to sleep after each chunk (simulates slow storage)")
    g.add_argument("--step-time", type=float, default=0.0, help="seconds per training step")
    g.add_argument("--save-pause", type=float, default=0.0, help="extra seconds after each save")
    g.add_argument("--start-delay", type=float, default=0.0, help="seconds before the first write")
    g.add_argument("--exit-code", type=int, default=0, help="exit status at the end (default 0)")
    g.add_argument("--crash-before-final-save", action="store_true", help="exit (status 1 or --exit-code) after training, before the final save")
    g.add_argument("--crash-during-save", type=int, default=0, metavar="STEP",
                   help="die (os._exit) halfway through the weights of the save at STEP, leaving it incomplete")
    g.add_argument("--no-final-save", action="store_true", help="skip the final save into OUT (like a script without save_model)")
    g.add_argument("--events", default=None, metavar="FILE", help="append one JSON line per completed save (see below)")
    g.add_argument("--catch-usr", action="store_true",
                   help="record SIGUSR1/SIGUSR2 (stderr + events) and keep training; without it they kill the "
                        "process (default action), as for any Python program")
    g.add_argument("--quiet", action="store_true", help="no progress lines on stdout")
    return p


def check_args(p, a):
    if a.world_size is None:
        env = os.environ.get("WORLD_SIZE", "1")
        try:
            a.world_size = int(env)
        except ValueError:
            p.error("WORLD_SIZE=%r in the environment is not an integer" % env)
    if a.steps_per_epoch < 1 or a.epochs < 1 or a.max_steps < 0:
        p.error("--epochs and --steps-per-epoch must be >= 1, --max-steps >= 0")
    a.save_steps_recorded = a.save_steps if a.save_steps is not None else (10 if a.save_strategy == "steps" else 500)
    if a.save_steps is None:
        a.save_steps = 10
    if a.save_steps < 1 or a.logging_steps < 1:
        p.error("--save-steps and --logging-steps must be >= 1")
    if a.world_size < 1 or a.mp_size < 1 or a.world_size % a.mp_size:
        p.error("--world-size must be >= 1 and a multiple of --mp-size")
    if a.shards < 1:
        p.error("--shards must be >= 1")
    if a.model_size < 64:
        p.error("--model-size must be at least 64 bytes")
    if a.chunk_bytes < 1:
        p.error("--chunk-bytes must be >= 1")
    if a.peft and a.shards > 1:
        p.error("--peft writes one adapter_model.safetensors; --shards does not apply")
    if a.save_strategy == "best" and a.layout != "trainer":
        p.error("--save-strategy best exists only for --layout trainer")
    a.eval_metrics = [m.strip() for m in a.eval_metrics.split(",") if m.strip()]
    if a.load_best_model_at_end and not a.metric_for_best_model:
        a.metric_for_best_model = "loss"
    if a.save_strategy == "best" and not a.metric_for_best_model:
        p.error("--save-strategy best needs --metric-for-best-model")
    if a.metric_for_best_model:
        m = a.metric_for_best_model[5:] if a.metric_for_best_model.startswith("eval_") else a.metric_for_best_model
        if m != "loss" and m not in a.eval_metrics:
            p.error("--metric-for-best-model %s is not among --eval-metrics (%s)" % (m, ",".join(a.eval_metrics)))
        if a.eval_strategy == "no":
            p.error("--metric-for-best-model / --load-best-model-at-end need an --eval-strategy")
    if a.greater_is_better is None:
        a.greater_is_better = bool(a.metric_for_best_model) and a.metric_for_best_model not in ("loss", "eval_loss")
    else:
        a.greater_is_better = a.greater_is_better == "true"
    if a.layout == "trainer" and a.save_strategy == "steps" and a.save_total_limit < 0:
        p.error("--save-total-limit must be >= 0")


def install_signal_handlers(ctx):
    """SIGTERM/SIGINT: note it (stderr + events), then die by the same signal with
    the default action, so the parent sees exactly what it would from Python."""

    def handler(signum, frame):
        name = signal.Signals(signum).name
        sys.stderr.write("fake_trainer: received %s, exiting\n" % name)
        sys.stderr.flush()
        try:
            ctx.append_event({"event": "signal", "signal": signum, "name": name, "pid": os.getpid()})
        except OSError:
            pass
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    if ctx.catch_usr:

        def usr(signum, frame):  # a trainer that handles SIGUSR1/2 (e.g. SLURM requeue hooks)
            name = signal.Signals(signum).name
            sys.stderr.write("fake_trainer: received %s, continuing\n" % name)
            sys.stderr.flush()
            ctx.append_event({"event": "signal", "signal": signum, "name": name, "pid": os.getpid(), "action": "continue"})

        signal.signal(signal.SIGUSR1, usr)
        signal.signal(signal.SIGUSR2, usr)


def main(argv=None):
    p = build_parser()
    a = p.parse_args(argv)
    check_args(p, a)
    ctx = Ctx(a)
    ctx.crash_exit_code = a.exit_code if a.exit_code else 1
    ctx.catch_usr = a.catch_usr
    install_signal_handlers(ctx)
    if a.start_delay > 0:
        import time

        time.sleep(a.start_delay)
    run = {"trainer": TrainerRun, "accelerate": AccelerateRun, "lightning": LightningRun, "deepspeed": DeepSpeedRun}[a.layout]
    rc = run(ctx, a).run()
    ctx.log("done: %d bytes written, exit %d" % (ctx.bytes_total, rc))
    return rc


if __name__ == "__main__":
    sys.exit(main())
