#!/usr/bin/python3
"""End-to-end test of `hubsync card` and of the card's YAML front matter.

- each golden case rendered by the binary through --config/--job equals its expected.md;
- the front matter parses with PyYAML (Debian's python3-yaml), has the Hub's model-index shape,
  and re-dumping it with yaml.dump(sort_keys=False) gives back the same bytes (PyYAML fidelity);
- awkward strings (non-ASCII, YAML keywords, '#', quotes, dates) round-trip exactly;
- --out writes the file and merges with a human card there, idempotently;
- a hostile training_args.bin gives a warning, exit 0 and a card; the token never shows.
Env: HUBSYNC_BIN, HS_SOURCE_DIR. Ends with "card_cli: N passed, M failed".
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

BIN = os.environ["HUBSYNC_BIN"]
DATA = os.path.join(os.environ["HS_SOURCE_DIR"], "tests", "modelcard", "data")
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name} {detail}")


def card(args, env=None):
    p = subprocess.run([BIN, "card"] + args, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def front_matter(text):
    assert text.startswith("---\n")
    end = text.index("\n---\n", 4)
    return text[4:end + 1], text[end + 5:]


def check_model_index(name, meta):
    mi = meta.get("model-index")
    ok = isinstance(mi, list) and len(mi) == 1 and isinstance(mi[0].get("name"), str) and \
        isinstance(mi[0].get("results"), list)
    for r in (mi[0]["results"] if ok else []):
        ok &= isinstance(r.get("task", {}).get("type"), str)
        ok &= isinstance(r.get("dataset", {}).get("type"), str) and isinstance(r["dataset"].get("name"), str)
        ok &= all(isinstance(v, str) for v in r["dataset"].values())
        ok &= isinstance(r.get("metrics"), list) and len(r["metrics"]) > 0
        for m in r.get("metrics", []):
            ok &= isinstance(m.get("type"), str) and isinstance(m.get("value"), (int, float))
    check(f"{name}: model-index has the Hub's shape", ok, repr(mi))
    for key in ("datasets", "tags", "language", "metrics"):
        if key in meta:
            check(f"{name}: {key} is a list of strings",
                  isinstance(meta[key], list) and all(isinstance(x, str) and x for x in meta[key]))
    if "base_model" in meta:
        bm = meta["base_model"]
        check(f"{name}: base_model a non-empty string or a list of two or more",
              (isinstance(bm, str) and bm) or
              (isinstance(bm, list) and len(bm) > 1 and all(isinstance(x, str) and x for x in bm)))
    check(f"{name}: library_name", meta.get("library_name") == "transformers")


def check_yaml(name, text):
    fm, _ = front_matter(text)
    meta = yaml.safe_load(fm)
    check(f"{name}: front matter is a mapping", isinstance(meta, dict))
    check_model_index(name, meta)
    again = yaml.dump(meta, sort_keys=False)
    check(f"{name}: PyYAML writes the same front matter", again == fm, f"\n--- ours\n{fm}--- pyyaml\n{again}")
    return meta


def config_for(tmp, case, run_dir, extra=None):
    with open(os.path.join(DATA, case, "meta.json")) as f:
        mc = json.load(f)
    job = {"name": case, "watch": run_dir, "hub_model_id": "acme/" + os.path.basename(run_dir),
           "model_card": mc}
    job.update(extra or {})
    path = os.path.join(tmp, case + ".json")
    with open(path, "w") as f:
        json.dump({"jobs": [job]}, f)
    return path


def main():
    tmp = tempfile.mkdtemp(prefix="hs-card-cli-")
    try:
        cases = [("cls_epoch", "bert-finetuned-mrpc", None), ("clm_steps", "gpt2-wikitext", {"world_size": 2}),
                 ("s2s_steps", "t5-small-xsum", None), ("s2s_args", "t5-small-xsum", None)]
        run_of = {"s2s_args": "s2s_steps"}  # meta.json + expected.md over another case's run
        for case, run, extra in cases:
            run_dir = os.path.join(DATA, run_of.get(case, case), "run", run)
            cfg = config_for(tmp, case, run_dir, extra)
            rc, out, err = card([run_dir, "--config", cfg, "--job", case])
            with open(os.path.join(DATA, case, "expected.md")) as f:
                expected = f.read()
            check(f"{case}: exit 0", rc == 0, err)
            check(f"{case}: equals expected.md", out == expected, err)
            check(f"{case}: no warnings", err == "", err)
            check(f"{case}: no token", "hf_fixture_secret" not in out + err)
            check_yaml(case, out)

        # Awkward strings round-trip through our YAML writer.
        run_dir = os.path.join(DATA, "cls_epoch", "run", "bert-finetuned-mrpc")
        odd = {"model_name": "données: v1 #1", "dataset_name": "yes", "datasets": ["glue"],
               "tags": ["#hash", "2024-01-01", "it's", "- dash", "ok"], "license": "other",
               "language": ["fr", "no"]}
        path = os.path.join(tmp, "odd.json")
        with open(path, "w") as f:
            json.dump({"jobs": [{"name": "odd", "watch": run_dir, "hub_model_id": "acme/x", "model_card": odd}]}, f)
        rc, out, err = card([run_dir, "--config", path])
        check("odd: exit 0", rc == 0, err)
        meta = check_yaml("odd", out)
        check("odd: tags round-trip", meta.get("tags") == odd["tags"] + ["generated_from_trainer"], repr(meta.get("tags")))
        check("odd: language round-trip", meta.get("language") == ["fr", "no"])
        check("odd: model name round-trips", meta["model-index"][0]["name"] == odd["model_name"])
        check("odd: dataset name round-trips", meta["model-index"][0]["results"][0]["dataset"]["name"] == "yes")
        check("odd: title", "\n# données: v1 #1\n" in out)

        # Every base_model of a list reaches the card (a merge of two models), in order.
        bases = {"base_model": ["acme/base-a", "acme/base-b"], "datasets": ["glue"]}
        path = os.path.join(tmp, "bases.json")
        with open(path, "w") as f:
            json.dump({"jobs": [{"name": "bases", "watch": run_dir, "hub_model_id": "acme/x", "model_card": bases}]}, f)
        rc, out, err = card([run_dir, "--config", path])
        check("base_model list: exit 0", rc == 0, err)
        meta = check_yaml("base_model list", out)
        check("base_model list: both in the front matter", meta.get("base_model") == bases["base_model"],
              repr(meta.get("base_model")))
        check("base_model list: both in the text",
              "fine-tuned version of [acme/base-a](https://huggingface.co/acme/base-a) and "
              "[acme/base-b](https://huggingface.co/acme/base-b) on" in out, out)

        # --out with a human card there: merged, idempotent.
        work = os.path.join(tmp, "run")
        shutil.copytree(run_dir, work)
        human = "---\nlicense: mit\nthumbnail: https://example.com/t.png\n---\n# My model\n\nWritten by me.\n"
        readme = os.path.join(work, "README.md")
        with open(readme, "w") as f:
            f.write(human)
        rc, out, err = card([work, "--out", readme])
        with open(readme) as f:
            merged = f.read()
        check("--out: exit 0, nothing on stdout", rc == 0 and out == "", err)
        check("--out: human text kept", "---\n# My model\n\nWritten by me.\n\n<!-- hubsync:begin" in merged, merged)
        check("--out: human metadata kept", "thumbnail: https://example.com/t.png\n" in merged and "license: mit\n" in merged)
        check_yaml("merged", merged)
        rc, out, err = card([work, "--out", readme])
        with open(readme) as f:
            check("--out: idempotent", f.read() == merged)

        # Hostile training_args.bin: warning, exit 0, card without the pickle's hyperparameters.
        shutil.copy(os.path.join(DATA, "pickles", "bad_os_system_p2.bin"), os.path.join(work, "training_args.bin"))
        os.unlink(readme)
        rc, out, err = card([work])
        check("hostile args: exit 0", rc == 0, err)
        check("hostile args: warning", "warning:" in err and "training_args.bin" in err, err)
        check("hostile args: card", "- train_batch_size: 16\n- num_epochs: 3\n" in out)

        # Usage and errors.
        rc, out, err = card([])
        check("no DIR: exit 2", rc == 2)
        rc, out, err = card([os.path.join(tmp, "missing")])
        check("missing DIR: exit 1 with message", rc == 1 and "No such file or directory" in err, err)
        rc, out, err = card([run_dir, "--config", cfg, "--job", "nope"])
        check("unknown job: exit 78", rc == 78 and 'no job named "nope"' in err, err)
    finally:
        shutil.rmtree(tmp)
    print(f"card_cli: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
