"""DeepSpeed `engine.save_checkpoint(save_dir, tag)` as docs/trainer-layouts.md
§2.10 describes it, used standalone (--layout deepspeed) and inside a Trainer
checkpoint (--layout trainer --deepspeed, where save_dir is checkpoint-N).

Per save, in this order on global rank 0: <tag>/mp_rank_MM_model_states.pt (one per
model-parallel rank; ZeRO-3: <tag>/zero_pp_rank_0_mp_rank_MM_model_states.pt),
<tag>/[bf16_]zero_pp_rank_0_mp_rank_MM_optim_states.pt, save_dir/zero_to_fp32.py,
then save_dir/latest (the tag, no newline). Every other data-parallel rank R writes
its own <tag>/[bf16_]zero_pp_rank_R_mp_rank_MM_optim_states.pt (and ZeRO-3 model
states) with no barrier before `latest`: --rank-files early writes them before
rank 0's files, late writes them after `latest` (after --late-rank-delay).
"""

import os

ZERO_TO_FP32 = b'''#!/usr/bin/env python
# This script extracts fp32 consolidated weights from a zero 1, 2 and 3 DeepSpeed checkpoints.
# (stand-in written by hubsync's fake trainer; the real file is copied from deepspeed/utils)
import argparse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint_dir")
    parser.add_argument("output_dir")
    parser.parse_args()
    raise SystemExit("fake trainer stand-in: nothing to convert")


if __name__ == "__main__":
    main()
'''


def ds_files(tag, world, mp_size, zero_stage, bf16):
    """(rank0_files, {rank: files}) as paths relative to save_dir, in write order."""
    pre = "bf16_" if bf16 else ""
    rank0, others = [], {}
    for m in range(mp_size):
        if zero_stage == 3:
            rank0.append("%s/zero_pp_rank_0_mp_rank_%02d_model_states.pt" % (tag, m))
        else:
            rank0.append("%s/mp_rank_%02d_model_states.pt" % (tag, m))
        if zero_stage > 0:
            rank0.append("%s/%szero_pp_rank_0_mp_rank_%02d_optim_states.pt" % (tag, pre, m))
    dp = max(1, world // mp_size)
    for r in range(1, dp):
        lst = []
        for m in range(mp_size):
            if zero_stage == 3:
                lst.append("%s/zero_pp_rank_%d_mp_rank_%02d_model_states.pt" % (tag, r, m))
            if zero_stage > 0:
                lst.append("%s/%szero_pp_rank_%d_mp_rank_%02d_optim_states.pt" % (tag, pre, r, m))
        others[r] = lst
    return rank0, others


def write_ds_checkpoint(ctx, save_dir, tag, step, args, model_bytes, late_writers):
    """Write one engine checkpoint. Other ranks' files are written now (early)
    or appended to late_writers (callables run after the save's marker)."""
    world, mp = args.world_size, args.mp_size
    rank0, others = ds_files(tag, world, mp, args.zero_stage, args.ds_bf16)
    dp = max(1, world // mp)
    shard_bytes = max(1, int(model_bytes * args.optimizer_factor) // dp)
    model_part = max(1, model_bytes // mp)

    def write_one(rel):
        path = os.path.join(save_dir, rel)
        if "optim_states" in rel:
            obj = {"optimizer_state_dict": {"zero_stage": args.zero_stage, "partition_count": dp}, "ds_config": {}, "ds_version": "0.18.0"}
            ctx.write_torch(path, obj, [("ds-optim@%d:%s" % (step, rel), shard_bytes)])
        else:
            size = model_part if args.zero_stage != 3 else max(1, model_part // dp)
            obj = {"module": "<storage 0>", "global_steps": step, "global_samples": step * args.batch_size * dp, "dp_world_size": dp, "mp_world_size": mp, "ds_version": "0.18.0"}
            ctx.write_torch(path, obj, [("ds-model@%d:%s" % (step, rel), size)])

    if args.rank_files == "early":
        for r in sorted(others):
            for rel in others[r]:
                write_one(rel)
    for rel in rank0:
        write_one(rel)
    ctx.write_bytes(os.path.join(save_dir, "zero_to_fp32.py"), ZERO_TO_FP32)
    ctx.write_text(os.path.join(save_dir, "latest"), tag)
    if args.rank_files == "late":
        for r in sorted(others):
            for rel in others[r]:
                late_writers.append(lambda rel=rel: write_one(rel))
    files = rank0 + [f for r in sorted(others) for f in others[r]] + ["zero_to_fp32.py", "latest"]
    return files
