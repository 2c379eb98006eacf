// The @huggingface/hub client's download of one checkpoint folder, for
// bench/pull_bench.sh: node pull_js.mjs HUB_URL TOKEN REPO FOLDER CACHE_DIR —
// every file under FOLDER/ of REPO at main, all at once, with
// downloadFileToCacheDir (streamed to CACHE_DIR's blobs, no hash check: the
// client trusts the transfer; hubsync pull verifies every sha256).
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [hubUrl, accessToken, repo, folder, cacheDir] = process.argv.slice(2);
const here = new URL(".", import.meta.url).pathname;
const req = createRequire(join(here, "../tests/js/package.json"));
const { listFiles, downloadFileToCacheDir } = await import(
  pathToFileURL(req.resolve("@huggingface/hub")).href
);

const paths = [];
for await (const f of listFiles({ repo, path: folder, recursive: true, hubUrl, accessToken })) {
  if (f.type === "file") paths.push(f.path);
}
console.debug = () => {}; // its per-file "Downloading ..." lines
const got = await Promise.all(
  paths.map((path) => downloadFileToCacheDir({ repo, path, hubUrl, accessToken, cacheDir })),
);
console.log(`${got.length} files`);
