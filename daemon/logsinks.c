/*
 * logsinks.c — where the service's log lines go: journald natively when
 * stderr is the journal stream, else the log_file sink (logfile.c) when
 * the config names one, else stderr (common/log.c's default). The sink is
 * chosen at start; a reload keeps it.
 */
#include "daemon_int.h"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

/* Under systemd (stderr is the journal stream named by JOURNAL_STREAM),
 * lines go to journald natively: PRIORITY, SYSLOG_IDENTIFIER and, for job
 * lines ("job NAME: ..."), HUBSYNC_JOB. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void journald_sink(enum hs_log_level level, const char *line, void *ud)
{
    (void)ud;
    static const int prio[] = {3, 4, 6, 7};
    char job[128] = "";
    const char *colon = !strncmp(line, "job ", 4) ? strstr(line + 4, ": ") : NULL;
    if (colon && (size_t)(colon - line - 4) < sizeof(job))
        snprintf(job, sizeof(job), "%.*s", (int)(colon - line - 4), line + 4);
    if (job[0])
        sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", prio[level], "HUBSYNC_JOB=%s", job,
                        "SYSLOG_IDENTIFIER=hubsync", NULL);
    else
        sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", prio[level], "SYSLOG_IDENTIFIER=hubsync",
                        NULL);
}

/* log_file: one timestamped line per message, appended (batch jobs
 * without journald), rotated by size with zstd-compressed predecessors
 * (logfile.h; HUBSYNC_LOG_MAX_BYTES, default 64 MiB, HUBSYNC_LOG_KEEP, 5). */
static struct logfile *g_log_file;

void log_sinks_setup(const struct config *cfg)
{
    if (cfg->log_file && !g_log_file) {
        struct hs_err err = {0};
        if (logfile_open(cfg->log_file,
                         hs_env_u64("HUBSYNC_LOG_MAX_BYTES", LOGFILE_DEFAULT_MAX_BYTES),
                         (unsigned)hs_env_u64("HUBSYNC_LOG_KEEP", LOGFILE_DEFAULT_KEEP),
                         &g_log_file, &err) < 0)
            hs_log_error("%s (logging to stderr)", err.msg);
        else
            hs_log_set_sink(logfile_sink, g_log_file);
    } else if (!cfg->log_file && stderr_is_journal()) {
        hs_log_set_sink(journald_sink, NULL);
    }
}

void log_sinks_teardown(void)
{
    hs_log_set_sink(NULL, NULL);
    g_log_file = logfile_close(g_log_file);
}
