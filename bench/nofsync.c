/*
 * nofsync.c — LD_PRELOAD probe for bench/interference_bench.py --fsync-probe:
 * fsync() and fdatasync() return 0 without flushing, so a run with it shows
 * how much of hubsync's effect on a disk-bound neighbour comes from its
 * durability writes (journal records, the push resume state per part).
 * A diagnostic only: never use it for real data.
 *   cc -shared -fPIC -O2 -o nofsync.so bench/nofsync.c
 */
int fsync(int fd);
int fdatasync(int fd);

int fsync(int fd)
{
    (void)fd;
    return 0;
}

int fdatasync(int fd)
{
    (void)fd;
    return 0;
}
