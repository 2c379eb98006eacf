"""The Python huggingface_hub client's upload of a folder, for
bench/pipeline_bench.py: python3 push_py.py HUB_URL TOKEN REPO DIR — one
commit with every file of DIR (upload_folder; Xet off: HF_HUB_DISABLE_XET=1,
the emulator has no Xet). huggingface_hub is imported from
$HUBSYNC_BENCH_HFHUB (its source tree's src/, outside this repo)."""

import os
import sys

sys.path.insert(0, os.environ["HUBSYNC_BENCH_HFHUB"])
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
from huggingface_hub import HfApi  # noqa: E402

hub, token, repo, folder = sys.argv[1:5]
api = HfApi(endpoint=hub, token=token)
api.create_repo(repo, exist_ok=True)
info = api.upload_folder(folder_path=folder, repo_id=repo, commit_message="bench (python)")
print(info)
