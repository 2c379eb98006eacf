// The @huggingface/hub client's upload of a folder, for bench/push_bench.sh:
// node push_js.mjs HUB_URL TOKEN REPO DIR — one commit with every file of DIR
// (LFS basic/multipart as the server says; Xet off: the emulator has no Xet).
import { createRequire } from "node:module";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";

const [hubUrl, accessToken, repo, dir] = process.argv.slice(2);
const here = new URL(".", import.meta.url).pathname;
// @huggingface/hub from $HUBSYNC_BENCH_JS (a folder with its node_modules), else tests/js
const jsDir = process.env.HUBSYNC_BENCH_JS || join(here, "../tests/js");
const req = createRequire(join(jsDir, "package.json"));
const { uploadFiles } = await import(pathToFileURL(req.resolve("@huggingface/hub")).href);

function walk(d, out = []) {
  for (const e of readdirSync(d).sort()) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push({ path: relative(dir, p), content: pathToFileURL(p) });
  }
  return out;
}
const res = await uploadFiles({
  repo,
  files: walk(dir),
  accessToken,
  hubUrl,
  useXet: false,
  commitTitle: "bench (js)",
});
console.log(res?.commit?.url ?? "no commit");
