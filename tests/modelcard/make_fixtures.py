#!/usr/bin/python3
"""Generate the model-card test fixtures (committed together with their output).

Usage: /usr/bin/python3 tests/modelcard/make_fixtures.py [OUT_DIR]   (default: tests/modelcard/data)

torch cannot run here, so training_args.bin is built with the stdlib pickle module from
stand-in classes carrying the real module and class names (transformers.training_args.
TrainingArguments, transformers.trainer_utils.IntervalStrategy, torch.device, ...). The
pickle then uses the opcodes a real torch.save(args) file uses: protocol 2, GLOBAL, NEWOBJ +
BUILD of the state dict, REDUCE of enum members and of torch.device, BINPUT/BINGET, LONG1,
BINFLOAT, BINUNICODE, EMPTY_DICT/LIST, MARK/SETITEMS/APPENDS, TUPLE1/2. The archive layout is
torch's zip format (stored "training_args/data.pkl" + byteorder/version records); variants
cover torch's legacy format and protocols 4/5 (FRAME, SHORT_BINUNICODE, MEMOIZE,
STACK_GLOBAL). trainer_state.json is written like TrainerState.save_to_json: indent=2,
sort_keys=True, NaN/Infinity literals allowed.
"""
import dataclasses
import enum
import io
import json
import os
import pickle
import sys
import types
import zipfile

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data")
SECRET = "hf_fixture_secret_token_0123456789abcd"


def module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


module("transformers")
tu = module("transformers.trainer_utils")
ta = module("transformers.training_args")
tt = module("torch")


def place(mod, cls):
    cls.__module__ = mod.__name__
    cls.__qualname__ = cls.__name__
    setattr(mod, cls.__name__, cls)
    return cls


ENUM_STYLE = ["value"]  # "value": Python <= 3.10 pickles (cls, (value,)); "getattr": 3.11+


class ExplicitEnum(str, enum.Enum):
    def __reduce_ex__(self, proto):
        if ENUM_STYLE[0] == "value":
            return self.__class__, (self._value_,)
        return getattr, (self.__class__, self._name_)


IntervalStrategy = place(tu, ExplicitEnum("IntervalStrategy", {"NO": "no", "STEPS": "steps", "EPOCH": "epoch"}))
SaveStrategy = place(tu, ExplicitEnum("SaveStrategy", {"NO": "no", "STEPS": "steps", "EPOCH": "epoch", "BEST": "best"}))
HubStrategy = place(tu, ExplicitEnum("HubStrategy", {"END": "end", "EVERY_SAVE": "every_save", "CHECKPOINT": "checkpoint"}))
SchedulerType = place(tu, ExplicitEnum("SchedulerType", {"LINEAR": "linear", "COSINE": "cosine", "CONSTANT_WITH_WARMUP": "constant_with_warmup"}))
OptimizerNames = place(ta, ExplicitEnum("OptimizerNames", {"ADAMW_TORCH": "adamw_torch", "ADAMW_TORCH_FUSED": "adamw_torch_fused", "ADAFACTOR": "adafactor"}))
for e in (IntervalStrategy, SaveStrategy, HubStrategy, SchedulerType, OptimizerNames):
    for m in e:
        pass


class device:
    def __init__(self, typ, index=None):
        self.type, self.index = typ, index

    def __reduce__(self):
        return (device, (self.type,) if self.index is None else (self.type, self.index))


place(tt, device)


@dataclasses.dataclass
class AcceleratorConfig:
    split_batches: bool = False
    dispatch_batches: object = None
    even_batches: bool = True
    use_seedable_sampler: bool = True
    non_blocking: bool = False
    gradient_accumulation_kwargs: object = None


place(module("transformers.trainer_pt_utils"), AcceleratorConfig)


class TrainingArguments:
    """Stand-in: the real class is a dataclass; pickle sees NEWOBJ + BUILD(__dict__)."""


place(ta, TrainingArguments)


def training_args(**over):
    a = TrainingArguments()
    d = dict(
        output_dir="out", overwrite_output_dir=False, do_train=True, do_eval=True,
        eval_strategy=IntervalStrategy.EPOCH, prediction_loss_only=False,
        per_device_train_batch_size=16, per_device_eval_batch_size=8,
        gradient_accumulation_steps=1, eval_accumulation_steps=None,
        learning_rate=5e-05, weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999,
        adam_epsilon=1e-08, max_grad_norm=1.0, num_train_epochs=3.0, max_steps=-1,
        lr_scheduler_type=SchedulerType.LINEAR, lr_scheduler_kwargs={}, warmup_ratio=0.0,
        warmup_steps=0, log_level="passive", logging_dir="out/runs/Nov26_10-00-00_host",
        logging_strategy=IntervalStrategy.STEPS, logging_first_step=False, logging_steps=50,
        save_strategy=SaveStrategy.EPOCH, save_steps=500, save_total_limit=None, seed=42,
        data_seed=None, fp16=False, bf16=False, local_rank=0, dataloader_num_workers=0,
        run_name="out", disable_tqdm=False, remove_unused_columns=True, label_names=None,
        load_best_model_at_end=False, metric_for_best_model=None, greater_is_better=None,
        fsdp=[], fsdp_config={"min_num_params": 0, "xla": False, "xla_fsdp_v2": False,
                              "xla_fsdp_grad_ckpt": False},
        accelerator_config=AcceleratorConfig(), label_smoothing_factor=0.0,
        optim=OptimizerNames.ADAMW_TORCH, optim_args=None, report_to=["tensorboard"],
        push_to_hub=True, resume_from_checkpoint=None, hub_model_id="acme/model",
        hub_strategy=HubStrategy.EVERY_SAVE, hub_token=SECRET, hub_private_repo=None,
        hub_always_push=False, gradient_checkpointing=False,
        gradient_checkpointing_kwargs=None, include_num_input_tokens_seen=False,
        neftune_noise_alpha=None, eval_do_concat_batches=True, batch_eval_metrics=False,
        _n_gpu=1, __cached__setup_devices=device("cuda", 0),
        distributed_state_tuple=(1, "NO"),
    )
    d.update(over)
    a.__dict__.update(d)
    return a


def zinfo(name, method=zipfile.ZIP_STORED):
    i = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
    i.compress_type = method
    return i


def torch_zip(payload, name="training_args"):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zinfo(f"{name}/data.pkl"), payload)
        z.writestr(zinfo(f"{name}/byteorder"), "little")
        z.writestr(zinfo(f"{name}/version"), "3\n")
        z.writestr(zinfo(f"{name}/.data/serialization_id"), "0123456789012345678901234567890123456789")
    return b.getvalue()


def torch_legacy(obj):
    return b"".join([pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2), pickle.dumps(1001, protocol=2),
                     pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                   "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2),
                     pickle.dumps(obj, protocol=2), pickle.dumps([], protocol=2)])


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def state_json(d):
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


def state(log, **kw):
    s = dict(best_global_step=None, best_metric=None, best_model_checkpoint=None, epoch=0.0,
             eval_steps=500, global_step=0, is_hyper_param_search=False, is_local_process_zero=True,
             is_world_process_zero=True, log_history=log, logging_steps=50, max_steps=0,
             num_input_tokens_seen=0, num_train_epochs=3, save_steps=500,
             stateful_callbacks={"TrainerControl": {"args": {
                 "should_epoch_stop": False, "should_evaluate": False, "should_log": False,
                 "should_save": True, "should_training_stop": False}, "attributes": {}}},
             total_flos=710000000000000.0, train_batch_size=16, trial_name=None, trial_params=None)
    s.update(kw)
    return s


# ---- case 1: text classification (MRPC), eval + save every epoch, final output dir ----------
def cls_epoch():
    d = os.path.join(OUT, "cls_epoch", "run", "bert-finetuned-mrpc")
    log = [
        {"epoch": 0.43478260869565216, "grad_norm": 5.1, "learning_rate": 4.2753623188405796e-05, "loss": 0.6012, "step": 50},
        {"epoch": 0.8695652173913043, "grad_norm": 7.9, "learning_rate": 3.5507246376811596e-05, "loss": 0.4838, "step": 100},
        {"epoch": 1.0, "eval_accuracy": 0.8284313725490197, "eval_f1": 0.8791, "eval_loss": 0.3964, "eval_runtime": 1.53, "eval_samples_per_second": 266.6, "eval_steps_per_second": 33.3, "step": 115},
        {"epoch": 1.3043478260869565, "grad_norm": 3.4, "learning_rate": 2.8260869565217392e-05, "loss": 0.3207, "step": 150},
        {"epoch": 1.7391304347826086, "grad_norm": 12.2, "learning_rate": 2.1014492753623185e-05, "loss": 0.2911, "step": 200},
        {"epoch": 2.0, "eval_accuracy": 0.8602941176470589, "eval_f1": 0.9019, "eval_loss": 0.3521, "eval_runtime": 1.49, "eval_samples_per_second": 273.8, "eval_steps_per_second": 34.2, "step": 230},
        {"epoch": 2.1739130434782608, "grad_norm": 2.2, "learning_rate": 1.3768115942028985e-05, "loss": 0.2345, "step": 250},
        {"epoch": 2.608695652173913, "grad_norm": 9.1, "learning_rate": 6.521739130434783e-06, "loss": 0.1902, "step": 300},
        {"epoch": 3.0, "eval_accuracy": 0.8553921568627451, "eval_f1": 0.8995, "eval_loss": 0.38117, "eval_runtime": 1.51, "eval_samples_per_second": 270.2, "eval_steps_per_second": 33.8, "step": 345},
        {"epoch": 3.0, "step": 345, "total_flos": 710000000000000.0, "train_loss": 0.36, "train_runtime": 120.5, "train_samples_per_second": 91.3, "train_steps_per_second": 2.86},
    ]
    write(os.path.join(d, "trainer_state.json"), state_json(state(log, epoch=3.0, global_step=345, max_steps=345)))
    write(os.path.join(d, "config.json"), json.dumps({
        "_name_or_path": "bert-base-cased", "architectures": ["BertForSequenceClassification"],
        "model_type": "bert", "transformers_version": "4.56.1"}, indent=2) + "\n")
    write(os.path.join(d, "training_args.bin"), torch_zip(pickle.dumps(training_args(), protocol=2)))
    # An older checkpoint is present too; the output dir's state wins.
    write(os.path.join(d, "checkpoint-230", "trainer_state.json"), state_json(state(log[:6], epoch=2.0, global_step=230, max_steps=345)))
    write(os.path.join(OUT, "cls_epoch", "meta.json"), json.dumps({
        "license": "apache-2.0", "datasets": ["glue"], "language": ["en"]}, indent=2) + "\n")


# ---- case 2: causal LM, no eval, step saves, only checkpoints (training still running) ------
def clm_steps():
    d = os.path.join(OUT, "clm_steps", "run", "gpt2-wikitext")
    log = []
    for step in range(100, 1001, 100):
        log.append({"epoch": round(step / 1250, 4), "grad_norm": float("inf") if step == 300 else 1.25 + step / 10000,
                    "learning_rate": 6e-4 * (1 - step / 2000), "loss": round(4.0 - step / 1000, 4), "step": step})
    for ck in (500, 1000):
        write(os.path.join(d, f"checkpoint-{ck}", "trainer_state.json"), state_json(state(
            [e for e in log if e["step"] <= ck], epoch=ck / 1250, global_step=ck, max_steps=1000,
            logging_steps=100, eval_steps=None, save_steps=500, num_train_epochs=1, train_batch_size=8)))
        write(os.path.join(d, f"checkpoint-{ck}", "config.json"), json.dumps({
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "transformers_version": "4.46.3"}) + "\n")
        write(os.path.join(d, f"checkpoint-{ck}", "training_args.bin"), torch_legacy(training_args(
            eval_strategy=IntervalStrategy.NO, per_device_train_batch_size=8, per_device_eval_batch_size=8,
            gradient_accumulation_steps=4, learning_rate=0.0006, max_steps=1000, warmup_steps=100,
            lr_scheduler_type=SchedulerType.COSINE, save_strategy=SaveStrategy.STEPS, fp16=True,
            optim=OptimizerNames.ADAMW_TORCH_FUSED, adam_beta2=0.95, seed=1234, logging_steps=100)))
    write(os.path.join(OUT, "clm_steps", "meta.json"), json.dumps({
        "base_model": "openai-community/gpt2", "datasets": ["Salesforce/wikitext"],
        "dataset_name": "wikitext wikitext-2-raw-v1", "license": "mit", "tags": ["causal-lm"]}, indent=2) + "\n")


# ---- case 3: seq2seq summarization, several metrics, step saves + eval_results.json ----------
def s2s_steps():
    d = os.path.join(OUT, "s2s_steps", "run", "t5-small-xsum")
    log = [
        {"epoch": 0.5, "eval_gen_len": 18.9731, "eval_loss": 2.6143, "eval_rouge1": 27.1015, "eval_rouge2": 6.9321,
         "eval_rougeL": 21.0453, "eval_rougeLsum": 21.0512, "eval_runtime": 88.2, "eval_samples_per_second": 128.4,
         "eval_steps_per_second": 8.03, "step": 500},
        {"epoch": 0.6, "grad_norm": "NaN", "learning_rate": 1.6e-05, "loss": 2.9375, "step": 600},
        {"epoch": 1.0, "grad_norm": 1.9, "learning_rate": 1.0e-05, "loss": 2.81234, "step": 1000},
        {"epoch": 1.0, "eval_gen_len": 18.8112, "eval_loss": 2.5519, "eval_rouge1": 28.0123, "eval_rouge2": 7.4562,
         "eval_rougeL": 21.9987, "eval_rougeLsum": 22.0012, "eval_runtime": 87.9, "eval_samples_per_second": 128.9,
         "eval_steps_per_second": 8.06, "step": 1000},
        {"epoch": 1.0, "step": 1000, "total_flos": 2.1e15, "train_loss": 2.95, "train_runtime": 900.1,
         "train_samples_per_second": 17.8, "train_steps_per_second": 1.11},
    ]
    text = state_json(state(log, epoch=1.0, global_step=1000, max_steps=1000, num_train_epochs=1, train_batch_size=16))
    text = text.replace('"grad_norm": "NaN"', '"grad_norm": NaN')  # the Trainer's bare literal
    write(os.path.join(d, "trainer_state.json"), text)
    write(os.path.join(d, "config.json"), json.dumps({
        "_name_or_path": "google-t5/t5-small", "architectures": ["T5ForConditionalGeneration"],
        "transformers_version": "4.44.0"}, indent=2) + "\n")
    write(os.path.join(d, "eval_results.json"), json.dumps({
        "epoch": 1.0, "eval_gen_len": 18.8112, "eval_loss": 2.551893949508667, "eval_rouge1": 28.0123,
        "eval_rouge2": 7.4562, "eval_rougeL": 21.9987, "eval_rougeLsum": 22.0012, "eval_runtime": 87.9,
        "eval_samples": 11334, "eval_samples_per_second": 128.9, "eval_steps_per_second": 8.06},
        indent=4, sort_keys=True) + "\n")
    ENUM_STYLE[0] = "getattr"  # this run's args were saved by Python 3.11+
    args = training_args(
        eval_strategy=IntervalStrategy.STEPS, learning_rate=2e-05, num_train_epochs=1,
        optim=OptimizerNames.ADAFACTOR, label_smoothing_factor=0.1, warmup_ratio=0.05,
        save_strategy=SaveStrategy.STEPS, per_device_eval_batch_size=16)
    write(os.path.join(d, "training_args.bin"), pickle.dumps(args, protocol=4))
    ENUM_STYLE[0] = "value"
    write(os.path.join(OUT, "s2s_steps", "meta.json"), json.dumps({
        "datasets": ["EdinburghNLP/xsum"], "dataset_name": "xsum", "model_name": "t5-small-xsum",
        "language": "en", "metrics_order": ["rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len"]}, indent=2) + "\n")


# ---- pickles for the parser tests and the fuzz seed corpus -----------------------------------
def pickles():
    p = os.path.join(OUT, "pickles")
    a = training_args()
    write(os.path.join(p, "zip_p2.bin"), torch_zip(pickle.dumps(a, protocol=2)))
    write(os.path.join(p, "legacy_p2.bin"), torch_legacy(a))
    write(os.path.join(p, "raw_p2.bin"), pickle.dumps(a, protocol=2))
    write(os.path.join(p, "raw_p4.bin"), pickle.dumps(a, protocol=4))
    write(os.path.join(p, "raw_p5.bin"), pickle.dumps(a, protocol=5))
    ENUM_STYLE[0] = "getattr"
    write(os.path.join(p, "zip_p2_getattr_enums.bin"), torch_zip(pickle.dumps(a, protocol=2)))
    ENUM_STYLE[0] = "value"
    # Hostile or unsupported inputs: each must be refused with a message.
    write(os.path.join(p, "bad_os_system_p0.bin"), b"cos\nsystem\n(S'echo pwned'\ntR.")
    write(os.path.join(p, "bad_os_system_p2.bin"), b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.")
    write(os.path.join(p, "bad_truncated.bin"), pickle.dumps(a, protocol=2)[:700])
    write(os.path.join(p, "bad_persid.bin"), b"\x80\x02X\x01\x00\x00\x00xQ.")
    write(os.path.join(p, "bad_memo_index.bin"), b"\x80\x02N" + b"r\xff\xff\xff\x7f" + b".")
    write(os.path.join(p, "bad_binget_unknown.bin"), b"\x80\x02h\x05.")
    # Billion laughs: a list holding the previous one twice, 40 levels deep.
    lol = b"\x80\x02]q\x00"
    for i in range(40):
        lol += b"](h" + bytes([i]) + b"h" + bytes([i]) + b"eq" + bytes([i + 1])
    write(os.path.join(p, "bad_laughs.bin"), lol + b".")
    write(os.path.join(p, "bad_deep.bin"), b"\x80\x02" + b"]" * 1000 + b"a" * 999 + b".")
    write(os.path.join(p, "bad_stack.bin"), b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b".")
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zinfo("training_args/data.pkl", zipfile.ZIP_DEFLATED), pickle.dumps(a, protocol=2))
    write(os.path.join(p, "bad_zip_deflated.bin"), b.getvalue())
    write(os.path.join(p, "bad_not_object.bin"), pickle.dumps([1, 2, 3], protocol=2))


if __name__ == "__main__":
    cls_epoch()
    clm_steps()
    s2s_steps()
    pickles()
    print(OUT)
