#!/usr/bin/python3
"""Tests of the fake trainers: each layout is run for real and the resulting
tree is checked against the file sets and write order of docs/trainer-layouts.md
(observed with inotify), the safetensors/zip/TensorBoard formats, trainer_state.json
contents, rotation, and the --events log (sizes and sha256 against the disk).

Usage: test_fake_trainer.py GROUP   (trainer | trainer_variants | others | process)
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftcheck as C  # noqa: E402

os.environ.pop("WORLD_SIZE", None)  # the expectations below are for world size 1 unless stated

TOK = ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
BASE_CKPT = sorted(["config.json", "model.safetensors", "training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"] + TOK)


def tmpdir():
    return tempfile.mkdtemp(prefix="ft-test-", dir=os.environ.get("TMPDIR"))


def ckpt_files(root, name):
    d = os.path.join(root, name)
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)


# ---------------------------------------------------------------- trainer
def t_trainer_default(s):
    """Default run: 3 saves, per-save file set and order, states, final save, events."""
    w = tmpdir()
    out = os.path.join(w, "out")
    os.makedirs(out)
    for n in (10, 20, 30):  # pre-created so inotify sees every file from the first one
        os.makedirs(os.path.join(out, "checkpoint-%d" % n))
    ino = C.Inotify(out)
    ev = os.path.join(w, "ev.jsonl")
    rc, so, se = ino.run([C.PY, C.FAKE, "--out", out, "--events", ev, "--seed", "7"])
    s.check(rc == 0, "default run exits 0 (got %d: %s)" % (rc, se))
    for n in (10, 20, 30):
        name = "checkpoint-%d" % n
        s.check(ckpt_files(out, name) == BASE_CKPT, "%s file set: %s" % (name, ckpt_files(out, name)))
        order = [os.path.basename(p) for p in ino.closed(name + "/")]
        s.check(order and order[-1] == "trainer_state.json", "%s: trainer_state.json closed last (%s)" % (name, order))
        s.check(order[:2] == ["config.json", "model.safetensors"], "%s: config.json then weights first (%s)" % (name, order))
        s.check(order.index("training_args.bin") < order.index("optimizer.pt") < order.index("scheduler.pt") < order.index("rng_state.pth"),
                "%s: training_args.bin < optimizer.pt < scheduler.pt < rng_state.pth (%s)" % (name, order))
        C.check_safetensors(os.path.join(out, name, "model.safetensors"))
        st, text = C.load_state(os.path.join(out, name, "trainer_state.json"))
        s.check(st["global_step"] == n, "%s: global_step %s" % (name, st["global_step"]))
        s.check(text == __import__("json").dumps(st, indent=2, sort_keys=True) + "\n", "%s: sorted, indent 2, trailing newline" % name)
        lh = st["log_history"]
        s.check([e["step"] for e in lh if "loss" in e] == list(range(5, n + 1, 5)), "%s: train rows every logging step" % name)
        s.check([e["step"] for e in lh if "eval_loss" in e] == list(range(10, n + 1, 10)), "%s: eval rows at epoch ends" % name)
        s.check(not any("train_runtime" in e for e in lh), "%s: no summary entry inside a checkpoint" % name)
        ev_row = next(e for e in lh if "eval_loss" in e)
        s.check(set(ev_row) == {"epoch", "step", "eval_loss", "eval_accuracy", "eval_f1", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"},
                "eval entry keys %s" % sorted(ev_row))
        tr = next(e for e in lh if "loss" in e)
        s.check(set(tr) == {"epoch", "step", "loss", "grad_norm", "learning_rate"} and tr["loss"] == round(tr["loss"], 4), "train entry %s" % tr)
        s.check(st["stateful_callbacks"]["TrainerControl"]["args"]["should_save"] is True, "should_save true in a checkpoint")
        s.check(C.strict_json_ok(text), "no NaN literals without --nan-grad-norm")
        ta = C.check_torch_zip(os.path.join(out, name, "training_args.bin"))
        s.check(ta.learning_rate == 5e-05 and ta.seed == 7 and ta.optim == "adamw_torch", "training_args.bin unpickles to the hyperparameters")
        for f in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
            C.check_torch_zip(os.path.join(out, name, f))
    # optimizer is ~2x weights
    ms = os.path.getsize(os.path.join(out, "checkpoint-30", "model.safetensors"))
    os_ = os.path.getsize(os.path.join(out, "checkpoint-30", "optimizer.pt"))
    s.check(1.9 * ms < os_ < 2.2 * ms, "optimizer.pt about 2x the weights (%d vs %d)" % (os_, ms))
    s.check(abs(ms - 2 * 1024 * 1024) < 64 * 1024, "default model size about 2 MiB (%d)" % ms)
    # final save into output_dir
    top = sorted(f for f in os.listdir(out) if os.path.isfile(os.path.join(out, f)))
    want = sorted(["config.json", "model.safetensors", "training_args.bin", "trainer_state.json", "train_results.json", "eval_results.json", "all_results.json"] + TOK)
    s.check(top == want, "output_dir top-level files %s" % top)
    fst, _ = C.load_state(os.path.join(out, "trainer_state.json"))
    summ = [e for e in fst["log_history"] if "train_runtime" in e]
    s.check(len(summ) == 1 and "train_loss" in summ[0] and fst["log_history"][-1] is not None and summ[0] == fst["log_history"][-1],
            "final trainer_state.json ends with the summary entry")
    s.check(C.sha256(os.path.join(out, "model.safetensors")) == C.sha256(os.path.join(out, "checkpoint-30", "model.safetensors")),
            "final weights == last checkpoint's weights")
    import json

    allr = json.load(open(os.path.join(out, "all_results.json")))
    trr = json.load(open(os.path.join(out, "train_results.json")))
    evr = json.load(open(os.path.join(out, "eval_results.json")))
    s.check(allr == dict(trr, **evr) and "eval_loss" in evr and "train_loss" in trr, "all_results = train_results + eval_results")
    runs = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(out, "runs")) for f in fs]
    s.check(len(runs) == 1 and os.path.basename(runs[0]).startswith("events.out.tfevents."), "one runs/<date>_<host>/events file")
    if runs:
        s.check(C.check_tfevents(runs[0]) >= 1 + 6 + 3, "tfevents records (file_version + logs)")
    # the events log
    evs = C.read_events(ev)
    saves = [e for e in evs if e["event"] == "save"]
    s.check([e["name"] for e in saves] == ["checkpoint-10", "checkpoint-20", "checkpoint-30", "final"], "events: %s" % [e["name"] for e in saves])
    s.check(all(e["time"] >= e["marker_time"] - 1e-6 and e["monotonic_us"] > 0 for e in saves), "events carry times")
    s.check(sorted(f["path"] for f in saves[0]["files"]) == ["checkpoint-10/" + f for f in BASE_CKPT], "event file list = folder")
    s.check(C.check_events_match_disk(out, evs) >= 33, "events sizes/sha256 match disk")
    t = [e["time"] for e in saves]
    s.check(t == sorted(t), "event times increase")
    ino.close()
    shutil.rmtree(w)


def t_rotation(s):
    """save_total_limit: exactly L remain; best kept in addition; limit 1 + best at end."""
    import json

    for limit, extra, label in ((2, [], "limit 2"), (1, [], "limit 1"),
                                (2, ["--load-best-model-at-end", "--metric-for-best-model", "accuracy", "--greater-is-better", "false"], "limit 2 + best"),
                                (1, ["--load-best-model-at-end", "--metric-for-best-model", "accuracy", "--greater-is-better", "false"], "limit 1 + best")):
        w = tmpdir()
        out = os.path.join(w, "out")
        ev = os.path.join(w, "ev")
        r = C.run_fake(["--out", out, "--epochs", "6", "--save-total-limit", str(limit), "--events", ev, "--quiet"] + extra)
        s.check(r.returncode == 0, "%s: exit 0 (%s)" % (label, r.stderr))
        left = sorted((int(n.split("-")[1]) for n in os.listdir(out) if n.startswith("checkpoint-")))
        fst, _ = C.load_state(os.path.join(out, "trainer_state.json"))
        best = fst["best_model_checkpoint"]
        if not extra:
            s.check(left == list(range(70 - 10 * limit, 61, 10)), "%s: kept %s" % (label, left))
        else:
            bstep = int(best.rsplit("-", 1)[1])
            s.check(best == os.path.join(out, "checkpoint-%d" % bstep), "%s: best_model_checkpoint path as the trainer saw it" % label)
            s.check(bstep != 60, "%s: the inverted metric makes an early checkpoint best (%d)" % (label, bstep))
            if limit == 1:
                s.check(left == [bstep], "%s: end of training keeps only the best (%s)" % (label, left))
                # §2.6: the end-of-training rotation follows the last save after
                # the best model's reload (--best-reload-time, 80 ms): a watcher
                # has about that long to protect checkpoint-60
                evs = C.read_events(ev)
                last = [e for e in evs if e["event"] == "save" and e.get("name") == "checkpoint-60"]
                gone = [e for e in evs if e["event"] == "delete" and e["path"] == "checkpoint-60"]
                s.check(last and gone and 0.08 <= gone[0]["time"] - last[0]["time"] <= 0.5,
                        "%s: checkpoint-60 deleted 80-500 ms after its trainer_state.json (%s)" %
                        (label, [round(gone[0]["time"] - last[0]["time"], 3)] if last and gone else evs[-3:]))
            else:
                s.check(left == sorted({bstep, 60}), "%s: latest + best kept (%s, best %d)" % (label, left, bstep))
            accs = [e["eval_accuracy"] for e in fst["log_history"] if "eval_accuracy" in e]
            s.check(fst["best_metric"] == min(accs[:6]), "%s: best_metric is the minimum accuracy" % label)
            # load_best_model_at_end: output_dir weights are the best checkpoint's
            evs = C.read_events(ev)
            rec = {f["path"]: f["sha256"] for e in evs if e["event"] == "save" for f in e["files"]}
            s.check(rec.get("model.safetensors") == rec.get("checkpoint-%d/model.safetensors" % bstep) and C.sha256(os.path.join(out, "model.safetensors")) == rec["model.safetensors"],
                    "%s: final weights = best checkpoint's" % label)
        dels = [e["path"] for e in C.read_events(ev) if e["event"] == "delete"]
        s.check(sorted(dels + ["checkpoint-%d" % n for n in left], key=lambda x: int(x.split("-")[1])) == ["checkpoint-%d" % n for n in range(10, 61, 10)],
                "%s: delete events + remaining = all saves" % label)
        s.check(C.check_events_match_disk(out, C.read_events(ev)) > 0, "%s: events match disk" % label)
        shutil.rmtree(w)


# ------------------------------------------------------- trainer variants
def t_sharded_multi(s):
    w = tmpdir()
    out = os.path.join(w, "out")
    os.makedirs(os.path.join(out, "checkpoint-5"))
    ino = C.Inotify(out)
    rc, _, se = ino.run([C.PY, C.FAKE, "--out", out, "--max-steps", "5", "--save-steps", "5", "--shards", "3", "--world-size", "4", "--fp16",
                         "--model-type", "causal-lm", "--model-size", "3M", "--quiet", "--no-final-save"])
    s.check(rc == 0, "sharded run exit 0 (%s)" % se)
    shards = ["model-%05d-of-00003.safetensors" % i for i in (1, 2, 3)]
    want = sorted(shards + ["model.safetensors.index.json", "config.json", "generation_config.json", "training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt",
                            "chat_template.jinja", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.json", "trainer_state.json"]
                  + ["rng_state_%d.pth" % r for r in range(4)])
    got = ckpt_files(out, "checkpoint-5")
    s.check(got == want, "sharded/multi-GPU/fp16 file set: %s" % got)
    order = [os.path.basename(p) for p in ino.closed("checkpoint-5/")]
    s.check(order[:3] == ["rng_state_1.pth", "rng_state_2.pth", "rng_state_3.pth"], "other ranks' RNG files come first (%s)" % order[:4])
    s.check(order[3:5] == ["config.json", "generation_config.json"], "config then generation_config (%s)" % order[3:6])
    s.check(order[5:9] == shards + ["model.safetensors.index.json"], "shards in order, then the index (%s)" % order[5:9])
    s.check(order[-1] == "trainer_state.json" and order[-2] == "rng_state_0.pth" and "scaler.pt" in order, "rank 0 ends with rng_state_0, trainer_state (%s)" % order[-3:])
    import json

    idx = json.load(open(os.path.join(out, "checkpoint-5", "model.safetensors.index.json")))
    names = {}
    total = 0
    for sh in shards:
        hdr, _ = C.check_safetensors(os.path.join(out, "checkpoint-5", sh))
        for k, v in hdr.items():
            names[k] = sh
            total += v["data_offsets"][1] - v["data_offsets"][0]
    s.check(idx["weight_map"] == names, "index weight_map covers exactly the shards' tensors")
    s.check(idx["metadata"]["total_size"] == total, "index total_size = sum of tensor bytes")
    ino.close()
    shutil.rmtree(w)


def t_late_ranks(s):
    w = tmpdir()
    out = os.path.join(w, "out")
    os.makedirs(os.path.join(out, "checkpoint-10"))
    ino = C.Inotify(out)
    rc, _, _ = ino.run([C.PY, C.FAKE, "--out", out, "--max-steps", "10", "--world-size", "3", "--rank-files", "late", "--late-rank-delay", "0.2", "--quiet", "--no-final-save",
                        "--events", os.path.join(w, "ev")])
    order = [os.path.basename(p) for p in ino.closed("checkpoint-10/")]
    s.check(rc == 0 and order[-3:] == ["trainer_state.json", "rng_state_1.pth", "rng_state_2.pth"], "late ranks write after trainer_state.json (%s)" % order[-3:])
    e = [x for x in C.read_events(os.path.join(w, "ev")) if x["event"] == "save"][0]
    s.check(e["time"] - e["marker_time"] >= 0.19, "event time (last byte) is after marker_time by the delay (%.3f)" % (e["time"] - e["marker_time"]))
    ino.close()
    # with a known best step, the other ranks wait at the barrier after rank 0's model files
    out2 = os.path.join(w, "out2")
    for n in (10, 20):
        os.makedirs(os.path.join(out2, "checkpoint-%d" % n))
    ino = C.Inotify(out2)
    rc, _, _ = ino.run([C.PY, C.FAKE, "--out", out2, "--max-steps", "20", "--world-size", "2", "--load-best-model-at-end", "--quiet", "--no-final-save"])
    o10 = [os.path.basename(p) for p in ino.closed("checkpoint-10/")]
    o20 = [os.path.basename(p) for p in ino.closed("checkpoint-20/")]
    for o in (o10, o20):  # the eval before each save already set best_global_step
        s.check(rc == 0 and o.index("training_args.bin") < o.index("rng_state_1.pth") < o.index("trainer_state.json"), "best known: rank 1 after the model files (%s)" % o)
    ino.close()
    shutil.rmtree(w)


def t_peft_nan(s):
    w = tmpdir()
    out = os.path.join(w, "out")
    r = C.run_fake(["--out", out, "--peft", "--model-type", "causal-lm", "--base-model", "meta-llama/Llama-3.2-1B", "--max-steps", "10", "--nan-grad-norm", "--nan-eval-loss", "1",
                    "--load-best-model-at-end", "--quiet", "--no-tokenizer"])
    s.check(r.returncode == 0, "peft run exit 0 (%s)" % r.stderr)
    got = ckpt_files(out, "checkpoint-10")
    want = sorted(["README.md", "adapter_model.safetensors", "adapter_config.json", "training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"])
    s.check(got == want, "PEFT file set: %s" % got)
    C.check_safetensors(os.path.join(out, "checkpoint-10", "adapter_model.safetensors"))
    import json

    ac = json.load(open(os.path.join(out, "checkpoint-10", "adapter_config.json")))
    s.check(ac["base_model_name_or_path"] == "meta-llama/Llama-3.2-1B" and ac["peft_type"] == "LORA", "adapter_config.json")
    st, text = C.load_state(os.path.join(out, "checkpoint-10", "trainer_state.json"))
    s.check('"grad_norm": NaN' in text and '"grad_norm": Infinity' in text and '"eval_loss": NaN' in text, "NaN/Infinity literals written")
    s.check('"best_metric": Infinity' in text and st["best_global_step"] is None, "NaN first eval leaves best_metric at Infinity")
    s.check(not C.strict_json_ok(text), "strict JSON parsers reject the file (as jansson would)")
    s.check(open(os.path.join(out, "checkpoint-10", "README.md")).read().startswith("---\nbase_model: meta-llama/Llama-3.2-1B\nlibrary_name: peft\n---"), "PEFT README front matter")
    shutil.rmtree(w)


def t_tmp_checkpoint(s):
    for style in ("fixed", "random"):
        w = tmpdir()
        out = os.path.join(w, "out")
        os.makedirs(out)
        ino = C.Inotify(out)
        extra = [] if style == "fixed" else ["--world-size", "2", "--rank-files", "late", "--late-rank-delay", "0.05"]
        rc, _, se = ino.run([C.PY, C.FAKE, "--out", out, "--tmp-checkpoint", style, "--max-steps", "20", "--quiet", "--events", os.path.join(w, "ev")] + extra)
        s.check(rc == 0, "tmp-checkpoint %s exit 0 (%s)" % (style, se))
        moves = [(m, p, c) for m, p, c in ino.events if m & (C.IN_MOVED_FROM | C.IN_MOVED_TO)]
        pairs = []
        for m, p, c in moves:
            if m & C.IN_MOVED_FROM:
                to = [p2 for m2, p2, c2 in moves if m2 & C.IN_MOVED_TO and c2 == c]
                pairs.append((p, to[0] if to else None))
        s.check([b for _, b in pairs] == ["checkpoint-10", "checkpoint-20"], "%s: renamed into checkpoint-N (%s)" % (style, pairs))
        if style == "fixed":
            s.check([a for a, _ in pairs] == ["tmp-checkpoint-10", "tmp-checkpoint-20"], "fixed: from tmp-checkpoint-N")
        else:
            s.check(all(a.startswith("tmp-checkpoint-") and len(a) == len("tmp-checkpoint-") + 8 for a, _ in pairs), "random: tmp-checkpoint-xxxxxxxx (%s)" % pairs)
        written = set(os.path.dirname(p) for p in ino.closed())
        s.check(not any(d.startswith("checkpoint-") for d in written), "%s: no file is written under the final name" % style)
        s.check(not any(n.startswith("tmp-") for n in os.listdir(out)), "%s: nothing left under tmp-*" % style)
        want = BASE_CKPT if style == "fixed" else sorted([f for f in BASE_CKPT if f != "rng_state.pth"] + ["rng_state_0.pth", "rng_state_1.pth"])
        s.check(ckpt_files(out, "checkpoint-20") == want, "%s: renamed folder has the full file set (late ranks included)" % style)
        s.check(C.check_events_match_disk(out, C.read_events(os.path.join(w, "ev"))) > 0, "%s: events use final names and match disk" % style)
        ino.close()
        shutil.rmtree(w)


def t_trainer_deepspeed(s):
    w = tmpdir()
    out = os.path.join(w, "out")
    r = C.run_fake(["--out", out, "--deepspeed", "--world-size", "2", "--max-steps", "10", "--quiet", "--no-final-save"])
    s.check(r.returncode == 0, "trainer+deepspeed exit 0 (%s)" % r.stderr)
    got = ckpt_files(out, "checkpoint-10")
    want = sorted([f for f in BASE_CKPT if f not in ("optimizer.pt", "scheduler.pt", "rng_state.pth")] + ["rng_state_0.pth", "rng_state_1.pth", "latest", "zero_to_fp32.py",
                   "global_step10/mp_rank_00_model_states.pt", "global_step10/zero_pp_rank_0_mp_rank_00_optim_states.pt", "global_step10/zero_pp_rank_1_mp_rank_00_optim_states.pt"])
    s.check(got == want, "trainer+deepspeed file set: %s" % got)
    s.check(open(os.path.join(out, "checkpoint-10", "latest")).read() == "global_step10", "latest names global_step10 (no newline)")
    shutil.rmtree(w)


def t_determinism(s):
    w = tmpdir()
    a, b, c = (os.path.join(w, x) for x in "abc")
    for d, seed in ((a, "3"), (b, "3"), (c, "4")):
        r = C.run_fake(["--out", d, "--seed", seed, "--max-steps", "10", "--quiet", "--chunk-bytes", "4096" if d == b else "4M"])
        s.check(r.returncode == 0, "run %s" % d)
    for f in ("model.safetensors", "optimizer.pt", "trainer_state.json", "config.json", "tokenizer.json"):
        s.check(C.sha256(os.path.join(a, "checkpoint-10", f)) == C.sha256(os.path.join(b, "checkpoint-10", f)), "same seed, any chunking: same %s" % f)
    s.check(C.sha256(os.path.join(a, "checkpoint-10", "model.safetensors")) != C.sha256(os.path.join(c, "checkpoint-10", "model.safetensors")), "other seed: other weights")
    shutil.rmtree(w)


def t_strategies(s):
    """save/eval strategies, save_only_model, .bin weights, tokens-seen quirk."""
    import json

    w = tmpdir()
    out = os.path.join(w, "ep")
    r = C.run_fake(["--out", out, "--save-strategy", "epoch", "--steps-per-epoch", "7", "--eval-strategy", "steps", "--eval-steps", "4", "--quiet", "--no-final-save"])
    cps = sorted(int(n.split("-")[1]) for n in os.listdir(out) if n.startswith("checkpoint-"))
    s.check(r.returncode == 0 and cps == [7, 14, 21], "epoch saves at 7, 14, 21 (%s)" % cps)
    st, _ = C.load_state(os.path.join(out, "checkpoint-21", "trainer_state.json"))
    s.check([e["step"] for e in st["log_history"] if "eval_loss" in e] == [4, 8, 12, 16, 20] and st["eval_steps"] == 4, "eval every 4 steps")
    s.check(st["epoch"] == 3.0 and st["num_train_epochs"] == 3 and st["max_steps"] == 21 and st["save_steps"] == 500, "epoch fields, save_steps left at 500")
    out = os.path.join(w, "steps")
    r = C.run_fake(["--out", out, "--max-steps", "25", "--save-steps", "10", "--quiet", "--no-final-save", "--save-only-model", "--weights-format", "bin", "--shards", "2"])
    cps = sorted(int(n.split("-")[1]) for n in os.listdir(out) if n.startswith("checkpoint-"))
    s.check(r.returncode == 0 and cps == [10, 20, 25], "steps: every save_steps and the last step (%s)" % cps)
    got = ckpt_files(out, "checkpoint-25")
    want = sorted(["config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json", "training_args.bin", "trainer_state.json"] + TOK)
    s.check(got == want, "save_only_model + .bin shards file set: %s" % got)
    C.check_torch_zip(os.path.join(out, "checkpoint-25", "pytorch_model-00001-of-00002.bin"))
    idx = json.load(open(os.path.join(out, "checkpoint-25", "pytorch_model.bin.index.json")))
    s.check(sorted(set(idx["weight_map"].values())) == want[1:3], "bin index names the shards")
    out = os.path.join(w, "best")
    r = C.run_fake(["--out", out, "--save-strategy", "best", "--metric-for-best-model", "accuracy", "--epochs", "8", "--quiet", "--no-final-save"])
    cps = sorted(int(n.split("-")[1]) for n in os.listdir(out) if n.startswith("checkpoint-"))
    last = max(cps) if cps else 0
    st, _ = C.load_state(os.path.join(out, "checkpoint-%d" % last, "trainer_state.json"))
    accs = [(e["step"], e["eval_accuracy"]) for e in st["log_history"] if "eval_accuracy" in e]
    improving, best = [], -1.0
    for step, a in accs:
        if a > best:
            best = a
            improving.append(step)
    s.check(r.returncode == 0 and cps == improving and len(cps) < 8, "save_strategy best saves only on improvement (%s vs %s)" % (cps, improving))
    s.check(st["best_model_checkpoint"] == os.path.join(out, "checkpoint-%d" % last), "best_model_checkpoint = newest best save")
    out = os.path.join(w, "tok")
    r = C.run_fake(["--out", out, "--max-steps", "10", "--include-num-input-tokens-seen", "--quiet"])
    st, _ = C.load_state(os.path.join(out, "trainer_state.json"))
    tr = [e for e in st["log_history"] if "loss" in e]
    s.check(r.returncode == 0 and all("train_runtime" in e and "num_input_tokens_seen" in e for e in tr) and st["num_input_tokens_seen"] > 0,
            "include_num_input_tokens_seen puts train_runtime in every train entry")
    s.check(len([e for e in st["log_history"] if "train_runtime" in e and "train_loss" in e]) == 1, "exactly one summary (train_runtime + train_loss)")
    shutil.rmtree(w)


# ------------------------------------------------------------------ others
def t_accelerate(s):
    w = tmpdir()
    out = os.path.join(w, "out")
    ev = os.path.join(w, "ev")
    r = C.run_fake(["--layout", "accelerate", "--out", out, "--world-size", "2", "--fp16", "--save-total-limit", "2", "--events", ev, "--quiet"])
    s.check(r.returncode == 0, "accelerate exit 0 (%s)" % r.stderr)
    s.check(sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["checkpoint_1", "checkpoint_2"], "total_limit 2 keeps checkpoint_1, _2")
    want = sorted(["model.safetensors", "optimizer.bin", "scheduler.bin", "scaler.pt", "random_states_0.pkl", "random_states_1.pkl"])
    s.check(ckpt_files(out, "checkpoints/checkpoint_2") == want, "accelerate file set: %s" % ckpt_files(out, "checkpoints/checkpoint_2"))
    C.check_safetensors(os.path.join(out, "checkpoints", "checkpoint_2", "model.safetensors"))
    evs = C.read_events(ev)
    s.check([e["name"] for e in evs if e["event"] == "save"] == ["checkpoints/checkpoint_0", "checkpoints/checkpoint_1", "checkpoints/checkpoint_2", "final"], "save counter names")
    seq = [(e["event"], e.get("name", e.get("path"))) for e in evs]
    s.check(seq.index(("delete", "checkpoints/checkpoint_0")) < seq.index(("save", "checkpoints/checkpoint_2")), "total_limit deletes before the new save")
    s.check(C.check_events_match_disk(out, evs) > 0, "accelerate events match disk")
    out2 = os.path.join(w, "out2")
    r = C.run_fake(["--layout", "accelerate", "--out", out2, "--accelerate-naming", "epoch", "--save-strategy", "epoch", "--quiet", "--no-final-save"])
    s.check(r.returncode == 0 and sorted(os.listdir(out2)) == ["epoch_0", "epoch_1", "epoch_2"], "no_trainer epoch_<E> folders: %s" % os.listdir(out2))
    shutil.rmtree(w)


def t_lightning(s):
    w = tmpdir()
    out = os.path.join(w, "out")
    tmp = os.path.join(w, "systmp")
    ck = os.path.join(out, "ckpts")
    os.makedirs(ck)  # ModelCheckpoint(dirpath=...), pre-created so inotify sees the first file
    os.makedirs(tmp)
    ino = C.Inotify(out)
    ev = os.path.join(w, "ev")
    rc, _, se = ino.run([C.PY, C.FAKE, "--layout", "lightning", "--out", out, "--tmpdir", tmp, "--save-last", "link", "--epochs", "4", "--events", ev, "--quiet",
                         "--lightning-dirpath", ck])
    s.check(rc == 0, "lightning exit 0 (%s)" % se)
    s.check(sorted(os.listdir(ck)) == ["epoch=3-step=40.ckpt", "last.ckpt"], "top-1 + last.ckpt: %s" % os.listdir(ck))
    s.check(os.readlink(os.path.join(ck, "last.ckpt")) == "epoch=3-step=40.ckpt", "last.ckpt is a relative symlink to the newest")
    moved = [p for m, p, _ in ino.events if m & C.IN_MOVED_TO and p.endswith(".ckpt")]
    s.check(len(moved) == 4 and not [p for p in ino.closed() if p.endswith(".ckpt")], "ckpt files appear by rename only (%s)" % moved)
    s.check(os.listdir(tmp) == [], "temp files were moved away")
    obj = C.check_torch_zip(os.path.join(ck, "epoch=3-step=40.ckpt"))
    s.check(obj["global_step"] == 40 and obj["epoch"] == 3, "ckpt global_step/epoch")
    s.check(os.path.exists(os.path.join(out, "lightning_logs", "version_0", "hparams.yaml")), "hparams.yaml")
    s.check(C.check_events_match_disk(out, C.read_events(ev)) > 0, "lightning events match disk")
    ino.close()
    # default dirpath; top-k with a monitor, in-place writes; a second run gets version_1
    r = C.run_fake(["--layout", "lightning", "--out", out, "--quiet", "--epochs", "1"])
    s.check(r.returncode == 0 and os.listdir(os.path.join(out, "lightning_logs", "version_1", "checkpoints")) == ["epoch=0-step=10.ckpt"], "default dirpath: next free version_1/checkpoints")
    r = C.run_fake(["--layout", "lightning", "--out", out, "--save-top-k", "2", "--lightning-write", "inplace", "--save-last", "true", "--epochs", "5", "--quiet"])
    ck1 = os.path.join(out, "lightning_logs", "version_2", "checkpoints")
    s.check(r.returncode == 0 and os.path.isdir(ck1), "third run -> version_2")
    files = sorted(os.listdir(ck1))
    s.check(len(files) == 3 and "last.ckpt" in files and not os.path.islink(os.path.join(ck1, "last.ckpt")), "top-2 + real last.ckpt: %s" % files)
    shutil.rmtree(w)


def t_deepspeed(s):
    w = tmpdir()
    out = os.path.join(w, "out")
    os.makedirs(os.path.join(out, "global_step10"))
    ino = C.Inotify(out)
    ev = os.path.join(w, "ev")
    rc, _, se = ino.run([C.PY, C.FAKE, "--layout", "deepspeed", "--out", out, "--world-size", "4", "--mp-size", "2", "--zero-stage", "3", "--rank-files", "late",
                         "--late-rank-delay", "0.1", "--events", ev, "--quiet", "--max-steps", "20"])
    s.check(rc == 0, "deepspeed exit 0 (%s)" % se)
    g = sorted(os.listdir(os.path.join(out, "global_step20")))
    want = sorted(["zero_pp_rank_%d_mp_rank_%02d_%s_states.pt" % (d, m, k) for d in (0, 1) for m in (0, 1) for k in ("model", "optim")])
    s.check(g == want, "ZeRO-3, dp 2 x mp 2 file set: %s" % g)
    s.check(open(os.path.join(out, "latest")).read() == "global_step20", "latest = last tag")
    order = ino.closed()
    first = [p for p in order if p.startswith("global_step10/") or p in ("latest", "zero_to_fp32.py")][:8]
    li = first.index("latest")
    s.check(first[li - 1] == "zero_to_fp32.py" and all("rank_0_" in p for p in first[:li - 1]) and all("rank_1_" in p for p in first[li + 1:]),
            "rank 0 files, zero_to_fp32.py, latest, then (late) rank 1's shards: %s" % first)
    for p in want:
        C.check_torch_zip(os.path.join(out, "global_step20", p))
    s.check(os.path.exists(os.path.join(out, "pytorch_model.bin")), "final save_16bit_model")
    s.check(C.check_events_match_disk(out, C.read_events(ev)) > 0, "deepspeed events match disk")
    ino.close()
    shutil.rmtree(w)


# ----------------------------------------------------------------- process
def t_exit_and_crash(s):
    w = tmpdir()
    r = C.run_fake(["--out", os.path.join(w, "a"), "--max-steps", "10", "--exit-code", "3", "--quiet"])
    s.check(r.returncode == 3, "--exit-code 3 (got %d)" % r.returncode)
    r = C.run_fake(["--out", os.path.join(w, "b"), "--max-steps", "10", "--crash-before-final-save", "--quiet"])
    s.check(r.returncode == 1, "--crash-before-final-save exits 1 (got %d)" % r.returncode)
    s.check(os.path.isdir(os.path.join(w, "b", "checkpoint-10")) and not os.path.exists(os.path.join(w, "b", "model.safetensors")), "checkpoint present, no final save")
    r = C.run_fake(["--out", os.path.join(w, "c"), "--max-steps", "20", "--crash-during-save", "20", "--exit-code", "137", "--quiet"])
    s.check(r.returncode == 137, "--crash-during-save exit status (got %d)" % r.returncode)
    c20 = os.path.join(w, "c", "checkpoint-20")
    s.check(os.path.exists(os.path.join(c20, "model.safetensors")) and not os.path.exists(os.path.join(c20, "trainer_state.json")), "crashed save has no trainer_state.json")
    s.check(os.path.getsize(os.path.join(c20, "model.safetensors")) < os.path.getsize(os.path.join(w, "c", "checkpoint-10", "model.safetensors")), "crashed weights are truncated")
    r = C.run_fake(["--out", os.path.join(w, "d"), "--world-size", "3", "--mp-size", "2"])
    s.check(r.returncode == 2 and "multiple of --mp-size" in r.stderr, "bad option: exit 2 with a message (%s)" % r.stderr.strip()[-80:])
    r = C.run_fake(["--out", os.path.join(w, "ev"), "--max-steps", "10", "--quiet", "--no-final-save", "--enum-pickle", "value", "--args-hub-token", "hf_secret_x"])
    import pickletools
    import io
    import zipfile

    dis = io.StringIO()
    pickletools.dis(zipfile.ZipFile(os.path.join(w, "ev", "checkpoint-10", "training_args.bin")).read("training_args/data.pkl"), out=dis)
    ta = C.check_torch_zip(os.path.join(w, "ev", "checkpoint-10", "training_args.bin"))
    s.check(r.returncode == 0 and "getattr" not in dis.getvalue() and "'epoch'" in dis.getvalue() and ta.eval_strategy == "epoch" and ta.hub_token == "hf_secret_x",
            "--enum-pickle value: cls('epoch') REDUCE, hub_token stored")
    env = dict(os.environ, WORLD_SIZE="3")
    r = C.run_fake(["--out", os.path.join(w, "ws"), "--max-steps", "10", "--quiet", "--no-final-save"], env=env)
    s.check(r.returncode == 0 and [f for f in ckpt_files(os.path.join(w, "ws"), "checkpoint-10") if f.startswith("rng")] == ["rng_state_0.pth", "rng_state_1.pth", "rng_state_2.pth"],
            "WORLD_SIZE from the environment (torchrun) gives the default world size")
    r = C.run_fake(["--out", os.path.join(w, "d"), "--model-size", "12Q"])
    s.check(r.returncode == 2 and "not a size" in r.stderr, "bad size: exit 2")
    r = C.run_fake(["--help"])
    for opt in ("--layout", "--save-total-limit", "--tmp-checkpoint", "--chunk-bytes", "--chunk-pause", "--events", "--exit-code", "--world-size", "--shards", "--model-size"):
        s.check(opt in r.stdout, "--help documents %s" % opt)
    shutil.rmtree(w)


def wait_for(path, timeout=20):
    end = time.time() + timeout
    while not os.path.exists(path) and time.time() < end:
        time.sleep(0.02)


def t_signals(s):
    w = tmpdir()
    for sig in (signal.SIGTERM, signal.SIGINT):
        ev = os.path.join(w, "ev%d" % sig)
        p = subprocess.Popen([C.PY, C.FAKE, "--out", os.path.join(w, "s%d" % sig), "--step-time", "0.05", "--events", ev, "--quiet"], stderr=subprocess.PIPE, text=True)
        wait_for(ev)  # the first save is recorded: handlers are installed, training is under way
        t0 = time.time()
        p.send_signal(sig)
        err = p.communicate(timeout=10)[1]
        s.check(p.returncode == -sig, "%s: killed by the signal (returncode %d)" % (sig.name, p.returncode))
        s.check(time.time() - t0 < 5, "%s: exits promptly" % sig.name)
        s.check("received %s" % sig.name in err, "%s: says so on stderr" % sig.name)
        sigs = [e for e in C.read_events(ev) if e["event"] == "signal"] if os.path.exists(ev) else []
        s.check(len(sigs) == 1 and sigs[0]["signal"] == int(sig), "%s: recorded in the events file" % sig.name)
    # --catch-usr: SIGUSR1 is recorded and training goes on to a normal end
    ev = os.path.join(w, "evusr")
    p = subprocess.Popen([C.PY, C.FAKE, "--out", os.path.join(w, "usr"), "--max-steps", "20", "--step-time", "0.05", "--events", ev, "--quiet", "--catch-usr"],
                         stderr=subprocess.PIPE, text=True)
    wait_for(ev)
    p.send_signal(signal.SIGUSR1)
    err = p.communicate(timeout=20)[1]
    evs = C.read_events(ev)
    s.check(p.returncode == 0 and "received SIGUSR1, continuing" in err, "--catch-usr: SIGUSR1 does not stop the run (%d)" % p.returncode)
    s.check([e.get("action") for e in evs if e["event"] == "signal"] == ["continue"] and [e["name"] for e in evs if e["event"] == "save"][-1] == "final",
            "--catch-usr: recorded, run completed")
    # the shell sees 128+N
    r = subprocess.run(["bash", "-c", '"$0" "$1" --out "$2" --step-time 0.05 --quiet & sleep 0.5; kill -TERM $!; wait $!; echo $?', C.PY, C.FAKE, os.path.join(w, "sh")],
                       capture_output=True, text=True)
    s.check(r.stdout.strip() == "143", "shell status after SIGTERM is 143 (%r)" % r.stdout)
    shutil.rmtree(w)


def t_chunk_pause(s):
    """Slow writes: a 1 MiB file written in 256 KiB chunks with 0.1 s pauses is
    visibly growing for ~0.4 s (what a watcher must not mistake for complete)."""
    w = tmpdir()
    out = os.path.join(w, "out")
    t0 = time.time()
    r = C.run_fake(["--out", out, "--max-steps", "10", "--model-size", "1M", "--optimizer-factor", "0", "--chunk-bytes", "256K", "--chunk-pause", "0.1", "--quiet",
                    "--no-final-save", "--no-tokenizer", "--events", os.path.join(w, "ev")])
    dt = time.time() - t0
    s.check(r.returncode == 0 and dt >= 0.4, "chunk pauses slow the save (%.2fs)" % dt)
    C.check_safetensors(os.path.join(out, "checkpoint-10", "model.safetensors"))
    shutil.rmtree(w)


GROUPS = {
    "trainer": [t_trainer_default, t_rotation],
    "trainer_variants": [t_sharded_multi, t_late_ranks, t_peft_nan, t_tmp_checkpoint, t_trainer_deepspeed, t_determinism, t_strategies],
    "others": [t_accelerate, t_lightning, t_deepspeed],
    "process": [t_exit_and_crash, t_signals, t_chunk_pause],
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        sys.exit("usage: test_fake_trainer.py {%s}" % "|".join(GROUPS))
    suite = C.Suite("fake_trainer_" + sys.argv[1])
    for fn in GROUPS[sys.argv[1]]:
        suite.run(fn)
    sys.exit(suite.finish())
