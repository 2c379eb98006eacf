// Fidelity test: drive the Hub emulator with the real @huggingface/hub npm client.
// Creates a repo in a user and in an org namespace, commits a small regular file, a
// basic-LFS file and a multipart-LFS file, lists the files (tree + paths-info), downloads
// every file and compares SHA-256, then commits a change plus a deletion and checks the
// result, the commit list and the error paths (409 on create, 403 for a read token and
// a foreign namespace, 412 on a stale parentCommit). Any mismatch fails the test.
// Env: EMU_URL (hub base URL). The emulator must use a small multipart chunk size
// (the wrapper test_js_fidelity.sh starts it with --chunk-size 1048576).
import { createHash, randomBytes } from "node:crypto";
import {
  commit,
  createRepo,
  downloadFile,
  fileDownloadInfo,
  listCommits,
  listFiles,
  pathsInfo,
  whoAmI,
} from "@huggingface/hub";

const hubUrl = process.env.EMU_URL;
if (!hubUrl) {
  console.error("fidelity: EMU_URL is not set");
  process.exit(2);
}
const ALICE = "hf_alice_write_0123456789abcdefghij";
const BOB = "hf_bob_read_0123456789abcdefghijkl";
const CAROL = "hf_carol_write_0123456789abcdefghi";
const LARGE = Number(process.env.FIDELITY_LARGE_BYTES || 5 * 1024 * 1024 + 12345);

let passed = 0;
let failed = 0;
function check(cond, what) {
  if (cond) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL: ${what}`);
  }
}
function eq(actual, expected, what) {
  check(actual === expected, `${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}
async function expectStatus(promise, status, what) {
  try {
    await promise;
    check(false, `${what}: succeeded, expected HTTP ${status}`);
  } catch (e) {
    eq(e.statusCode, status, `${what} (${e.message})`);
  }
}
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const gitBlobSha1 = (buf) =>
  createHash("sha1").update(`blob ${buf.length}\0`).update(buf).digest("hex");

async function listAll(repo, accessToken) {
  const out = new Map();
  for await (const f of listFiles({ repo, recursive: true, hubUrl, accessToken })) {
    out.set(f.path, f);
  }
  return out;
}

async function downloadSha(repo, path, accessToken) {
  const blob = await downloadFile({ repo, path, hubUrl, accessToken });
  if (!blob) return null;
  return sha256(Buffer.from(await blob.arrayBuffer()));
}

async function exerciseRepo(repo, accessToken) {
  const config = Buffer.from(JSON.stringify({ architectures: ["Fake"], hidden: 8 }, null, 2) + "\n");
  const small = randomBytes(100 * 1024); // *.bin → LFS, below the multipart threshold → basic
  const large = randomBytes(LARGE); // > threshold → multipart
  const readme = Buffer.from("---\nlicense: mit\ntags:\n- test\n---\n# Fidelity\n");

  const res = await commit({
    repo,
    hubUrl,
    accessToken,
    title: "Add model",
    operations: [
      { operation: "addOrUpdate", path: "config.json", content: new Blob([config]) },
      { operation: "addOrUpdate", path: "README.md", content: new Blob([readme]) },
      { operation: "addOrUpdate", path: "weights/small.bin", content: new Blob([small]) },
      { operation: "addOrUpdate", path: "model.safetensors", content: new Blob([large]) },
    ],
  });
  check(/^[0-9a-f]{40}$/.test(res.commit.oid), `${repo}: commit oid is 40 hex (${res.commit.oid})`);
  eq(res.commit.url, `${hubUrl}/${repo}/commit/${res.commit.oid}`, `${repo}: commit url`);

  let files = await listAll(repo, accessToken);
  eq([...files.keys()].filter((p) => files.get(p).type === "file").sort().join(","),
    ".gitattributes,README.md,config.json,model.safetensors,weights/small.bin", `${repo}: files after commit 1`);
  check(files.get("weights")?.type === "directory", `${repo}: weights/ listed as a directory`);
  eq(files.get("config.json")?.oid, gitBlobSha1(config), `${repo}: config.json git blob oid`);
  eq(files.get("config.json")?.lfs, undefined, `${repo}: config.json is a regular file`);
  eq(files.get("model.safetensors")?.lfs?.oid, sha256(large), `${repo}: model.safetensors lfs oid`);
  eq(files.get("model.safetensors")?.size, large.length, `${repo}: model.safetensors size`);
  eq(files.get("weights/small.bin")?.lfs?.oid, sha256(small), `${repo}: small.bin lfs oid`);

  for (const [path, buf] of [["config.json", config], ["README.md", readme],
    ["weights/small.bin", small], ["model.safetensors", large]]) {
    eq(await downloadSha(repo, path, accessToken), sha256(buf), `${repo}: download ${path} sha256`);
  }
  const info = await fileDownloadInfo({ repo, path: "model.safetensors", hubUrl, accessToken });
  eq(info?.size, large.length, `${repo}: fileDownloadInfo size of the LFS file`);
  eq(await fileDownloadInfo({ repo, path: "nope.txt", hubUrl, accessToken }), null,
    `${repo}: fileDownloadInfo of a missing file is null (404 EntryNotFound)`);

  const pi = await pathsInfo({ repo, paths: ["config.json", "model.safetensors", "missing"], hubUrl, accessToken });
  eq(pi.map((p) => p.path).sort().join(","), "config.json,model.safetensors", `${repo}: paths-info paths`);
  eq(pi.find((p) => p.path === "model.safetensors")?.lfs?.oid, sha256(large), `${repo}: paths-info lfs oid`);

  // A change plus a deletion, with the right parentCommit; then a stale parentCommit → 412.
  const config2 = Buffer.from(JSON.stringify({ architectures: ["Fake"], hidden: 16 }) + "\n");
  const res2 = await commit({
    repo,
    hubUrl,
    accessToken,
    title: "Update config, drop small.bin",
    parentCommit: res.commit.oid,
    operations: [
      { operation: "addOrUpdate", path: "config.json", content: new Blob([config2]) },
      { operation: "delete", path: "weights/small.bin" },
    ],
  });
  files = await listAll(repo, accessToken);
  check(!files.has("weights/small.bin") && !files.has("weights"), `${repo}: small.bin deleted`);
  eq(files.get("config.json")?.oid, gitBlobSha1(config2), `${repo}: config.json updated`);
  eq(await downloadSha(repo, "config.json", accessToken), sha256(config2), `${repo}: download updated config`);
  eq(files.get("model.safetensors")?.lfs?.oid, sha256(large), `${repo}: model.safetensors kept`);
  await expectStatus(commit({
    repo, hubUrl, accessToken, title: "stale", parentCommit: res.commit.oid,
    operations: [{ operation: "addOrUpdate", path: "x.txt", content: new Blob(["x"]) }],
  }), 412, `${repo}: stale parentCommit`);

  // A tag on the second commit, as huggingface_hub's create_tag sends it (this
  // client has no tag function), then read back through the client: the tag
  // resolves as a revision for listFiles and downloadFile; a second one is 409.
  const tagUrl = `${hubUrl}/api/models/${repo}/tag/${res2.commit.oid}`;
  const tagReq = (tag) => fetch(tagUrl, {
    method: "POST",
    headers: { Authorization: `Bearer ${accessToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ tag, message: "fidelity" }),
  });
  eq((await tagReq("step-2")).status, 200, `${repo}: create tag`);
  eq((await tagReq("step-2")).status, 409, `${repo}: the same tag again`);
  const tagged = new Map();
  for await (const f of listFiles({ repo, revision: "step-2", hubUrl, accessToken })) tagged.set(f.path, f);
  eq(tagged.get("config.json")?.oid, gitBlobSha1(config2), `${repo}: listFiles at the tag`);
  const atTag = await downloadFile({ repo, path: "config.json", revision: "step-2", hubUrl, accessToken });
  eq(sha256(Buffer.from(await atTag.arrayBuffer())), sha256(config2), `${repo}: download at the tag`);
  const refs = await (await fetch(`${hubUrl}/api/models/${repo}/refs`,
    { headers: { Authorization: `Bearer ${accessToken}` } })).json();
  eq(refs.tags?.map((t) => `${t.name}@${t.targetCommit}`).join(","), `step-2@${res2.commit.oid}`,
    `${repo}: refs lists the tag`);

  // Re-committing the same large content: the object is already stored (no upload actions).
  const res3 = await commit({
    repo, hubUrl, accessToken, title: "Copy of the weights",
    operations: [{ operation: "addOrUpdate", path: "copy.safetensors", content: new Blob([large]) }],
  });
  files = await listAll(repo, accessToken);
  eq(files.get("copy.safetensors")?.lfs?.oid, sha256(large), `${repo}: re-used LFS object committed`);

  const commits = [];
  for await (const c of listCommits({ repo, hubUrl, accessToken, batchSize: 2 })) commits.push(c);
  eq(commits.map((c) => c.title).join("|"),
    "Copy of the weights|Update config, drop small.bin|Add model|initial commit", `${repo}: commit list (paginated)`);
  eq(commits[0]?.oid, res3.commit.oid, `${repo}: newest commit first`);
  eq(commits[1]?.oid, res2.commit.oid, `${repo}: second commit`);
  return sha256(large);
}

async function main() {
  const me = await whoAmI({ hubUrl, accessToken: ALICE });
  eq(me.name, "alice", "whoAmI name");
  check(me.orgs?.some((o) => o.name === "acme"), "whoAmI lists org acme");

  for (const repo of ["alice/fidelity-user", "acme/fidelity-org"]) {
    const r = await createRepo({ repo, hubUrl, accessToken: ALICE });
    eq(r.repoUrl, `${hubUrl}/${repo}`, `createRepo ${repo} url`);
    await expectStatus(createRepo({ repo, hubUrl, accessToken: ALICE }), 409, `createRepo ${repo} again`);
    await exerciseRepo(repo, ALICE);
  }
  await expectStatus(createRepo({ repo: "bob/nope", hubUrl, accessToken: BOB }), 403, "read token cannot create");
  await expectStatus(createRepo({ repo: "acme/carol-x", hubUrl, accessToken: CAROL }), 403,
    "non-member cannot create in org");
  await expectStatus(commit({
    repo: "alice/fidelity-user", hubUrl, accessToken: CAROL, title: "intrusion",
    operations: [{ operation: "addOrUpdate", path: "x.txt", content: new Blob(["x"]) }],
  }), 403, "carol cannot commit to alice's repo");
  await expectStatus(createRepo({ repo: "alice/bad--name", hubUrl, accessToken: ALICE }), 400, "invalid repo name");
  await expectStatus(commit({
    repo: "alice/fidelity-user", hubUrl, accessToken: ALICE, title: "bad card",
    operations: [{ operation: "addOrUpdate", path: "README.md",
      content: new Blob(["---\nmodel-index: [\n---\n"]) }],
  }), 400, "README.md with invalid YAML is rejected");
}

try {
  await main();
} catch (e) {
  failed++;
  console.error(`FAIL: unexpected error: ${e.stack || e}`);
}
console.log(`js_fidelity: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
