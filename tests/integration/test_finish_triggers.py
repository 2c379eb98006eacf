#!/usr/bin/env python3
"""Ways training ends besides `hubsync finish`: the job's pid_file process
exits (pidfd), finish_after_idle_seconds passes without activity; and a
`hubsync run` stopped (SIGTERM) during its final push leaves it in the
journal, says how to complete it, and `hubsync daemon` completes it."""

import json
import os
import signal
import subprocess
import sys
import time

import itlib


def job_state(cfg, name):
    r = itlib.hubsync("status", "--config", cfg, "--json", timeout=20)
    if r.returncode != 0:
        return {}
    return {j["name"]: j for j in json.loads(r.stdout)["jobs"]}.get(name, {})


def test_pid_and_idle(t):
    work = itlib.workdir("triggers")
    emu = itlib.Emu(work)
    p = sleeper = None
    try:
        out_p, out_i = os.path.join(work, "p"), os.path.join(work, "i")
        os.mkdir(out_p)
        os.mkdir(out_i)
        sleeper = subprocess.Popen(["sleep", "60"])
        pidf = os.path.join(work, "train.pid")
        with open(pidf, "w") as f:
            f.write("%d\n" % sleeper.pid)
        cfg = itlib.write_config(work, emu, [
            itlib.job("p", out_p, "alice/by-pid", pid_file=pidf),
            itlib.job("i", out_i, "alice/by-idle", finish_after_idle_seconds=2)])
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        t.check(itlib.wait_for(lambda: job_state(cfg, "p"), 20), "daemon up")
        args = ["--epochs", "1", "--steps-per-epoch", "10", "--save-steps", "10"]
        subprocess.run(itlib.trainer_cmd(out_p, *args), timeout=60, check=True)
        subprocess.run(itlib.trainer_cmd(out_i, *args), timeout=60, check=True)
        t0 = time.monotonic()
        t.check(itlib.wait_for(lambda: job_state(cfg, "p").get("committed") == 1, 20),
                "job p committed its save")
        t.check(job_state(cfg, "p").get("state") != "finished",
                "job p does not finish while its process lives")
        sleeper.kill()
        sleeper.wait()
        t.check(itlib.wait_for(lambda: job_state(cfg, "p").get("state") == "finished", 20),
                "job p finished when its pid_file process exited: %s" % job_state(cfg, "p"))
        t.check(emu.commits("alice/by-pid")[-1] == "End of training", "by-pid End of training")
        fin = itlib.wait_for(lambda: job_state(cfg, "i").get("state") == "finished", 20)
        t.check(fin, "job i finished after 2 s without activity: %s" % job_state(cfg, "i"))
        t.check(time.monotonic() - t0 >= 1.0, "not before the idle time")
        t.check(emu.commits("alice/by-idle")[-1] == "End of training", "by-idle End of training")
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "clean stop")
        log.close()
    finally:
        for x in (p, sleeper):
            if x and x.poll() is None:
                x.kill()
        emu.stop()
        itlib.cleanup(work)


def test_run_stopped_in_final_push(t):
    work = itlib.workdir("runstop")
    emu = itlib.Emu(work, "--multipart-threshold", "1000000", "--chunk-size", "524288")
    try:
        out = os.path.join(work, "out")
        repo = "alice/runstop"
        # the end strategy: everything goes in the final push, slowly
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "end")],
                                 bandwidth_limit_mbps=8)
        log = open(os.path.join(work, "run.log"), "w")
        p = itlib.popen_hubsync("run", "--config", cfg, "--",
                                *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                                   "--save-steps", "10", "--model-size", "4M"),
                                log=log)
        t.check(itlib.wait_for(lambda: "pushing \"End of training\"" in
                               open(os.path.join(work, "run.log")).read(), 30, 0.05),
                "the final push started")
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(15)
        log.close()
        text = open(os.path.join(work, "run.log")).read()
        t.check(rc == 1, "stopped before the final push completed: exit %d (want 1)" % rc)
        t.check("hubsync daemon --config %s" % cfg in text,
                "it says how to complete the push: %s" % text[-600:])
        t.check("End of training" not in emu.commits(repo), "not committed yet")
        log = open(os.path.join(work, "daemon.log"), "w")
        d = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        t.check(itlib.wait_for(lambda: job_state(cfg, "j").get("state") == "finished", 30),
                "the daemon completed the finish: %s" % job_state(cfg, "j"))
        t.check(emu.commits(repo) == ["initial commit", "End of training"],
                "committed once: %s" % emu.commits(repo))
        got = emu.files(repo)
        t.check(got.get("model.safetensors") == itlib.sha256(os.path.join(out,
                                                                          "model.safetensors")),
                "with the final weights")
        d.send_signal(signal.SIGTERM)
        t.check(d.wait(15) == 0, "clean stop")
        log.close()
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_finish_triggers")
    t.run(test_pid_and_idle)
    t.run(test_run_stopped_in_final_push)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
