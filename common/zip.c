/*
 * zip.c — the end-of-central-directory record of a zip archive, the one
 * reader of it: torch.save writes a zip (Lightning's .ckpt, the Trainer's
 * training_args.bin) front to back with this record last, so the watcher
 * judges a .ckpt complete by it (watcher/detect_lightning.c) and the model
 * card finds training_args.bin's directory through it (modelcard/pickle.c).
 * Layout: APPNOTE.TXT 4.3.16 (the record), 4.3.15 (the zip64 locator).
 */
#include "common.h"

#include <string.h>

#define END_LEN     22
#define LOCATOR_LEN 20

uint64_t hs_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

bool hs_zip_end_prev(const unsigned char *buf, size_t n, size_t *pos, struct hs_zip_end *e)
{
    size_t i = n < END_LEN ? 0 : *pos < n - END_LEN + 1 ? *pos : n - END_LEN + 1;
    while (i-- > 0) {
        if (memcmp(buf + i, "PK\5\6", 4) != 0)
            continue;
        *e = (struct hs_zip_end){
            .at = i,
            .n_entries = (uint16_t)hs_le(buf + i + 10, 2),
            .cd_size = (uint32_t)hs_le(buf + i + 12, 4),
            .cd_off = (uint32_t)hs_le(buf + i + 16, 4),
        };
        e->zip64 = e->cd_off == 0xffffffffu || e->cd_size == 0xffffffffu;
        e->zip64_locator =
            e->zip64 && i >= LOCATOR_LEN && hs_le(buf + i - LOCATOR_LEN, 4) == 0x07064b50;
        *pos = i;
        return true;
    }
    *pos = 0;
    return false;
}
