/*
 * qcow2 internal snapshots (qcow2.txt "Snapshots"): the snapshot table and
 * creating, applying, deleting and listing snapshots.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2.h"

/* qcow2.txt "Snapshot table entry": the fixed part, then extra data */
#define SN_HEADER_SIZE 40
#define SN_EXTRA_SIZE 24    /* vm_state_size_large, disk_size, icount */
/* QEMU's limit on the whole table (QCOW_MAX_SNAPSHOTS_SIZE) */
#define QCOW2_MAX_SNAPSHOTS_SIZE (64 * 1024 * 1024)
/* nb_snapshots and snapshots_offset, adjacent in the header */
#define HDR_NB_SNAPSHOTS 60

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static uint16_t be16(const uint8_t *p)
{
    return ((uint16_t)p[0] << 8) | p[1];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void snapshot_clear(Qcow2Snapshot *sn)
{
    g_free(sn->id_str);
    g_free(sn->name);
    g_free(sn->unknown_extra_data);
    memset(sn, 0, sizeof(*sn));
}

void qcow2_free_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    /* the count may come from the header before the table was read */
    for (uint32_t i = 0; s->snapshots && i < s->nb_snapshots; i++) {
        snapshot_clear(&s->snapshots[i]);
    }
    g_free(s->snapshots);
    s->snapshots = NULL;
    s->nb_snapshots = 0;
}

/* Reads len bytes of the table at pos, which must lie inside the file. */
static bool table_read(BlockDriverState *bs, int64_t file_len, uint64_t pos,
                       void *buf, uint64_t len, GError **errp)
{
    int ret;

    if (pos > (uint64_t)file_len || len > (uint64_t)file_len - pos) {
        g_set_error(errp, VIREO_ERROR, 0, "Failed to read snapshot table: "
                    "it extends beyond the end of the file");
        return false;
    }
    ret = bdrv_pread(bs->file, pos, buf, len);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Failed to read snapshot table: %s",
                    g_strerror(-ret));
        return false;
    }
    return true;
}

/* One entry at *pos (advanced past it, 8-byte aligned). */
static bool read_snapshot_entry(BlockDriverState *bs, int64_t file_len,
                                uint64_t *pos, uint32_t i, Qcow2Snapshot *sn,
                                GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t h[SN_HEADER_SIZE];
    uint8_t *extra;
    uint32_t id_size, name_size;

    if (!table_read(bs, file_len, *pos, h, sizeof(h), errp)) {
        return false;
    }
    sn->l1_table_offset = qcow2_be64(h);
    sn->l1_size = be32(h + 8);
    id_size = be16(h + 12);
    name_size = be16(h + 14);
    sn->date_sec = be32(h + 16);
    sn->date_nsec = be32(h + 20);
    sn->vm_clock_nsec = qcow2_be64(h + 24);
    sn->vm_state_size = be32(h + 32);
    sn->extra_data_size = be32(h + 36);
    *pos += sizeof(h);

    if (sn->extra_data_size > QCOW2_MAX_SNAPSHOT_EXTRA_DATA) {
        g_set_error(errp, VIREO_ERROR, 0, "Too much extra metadata in "
                    "snapshot table entry %u", i);
        return false;
    }
    extra = g_malloc0(MAX(sn->extra_data_size, SN_EXTRA_SIZE));
    if (!table_read(bs, file_len, *pos, extra, sn->extra_data_size, errp)) {
        g_free(extra);
        return false;
    }
    *pos += sn->extra_data_size;
    /* Extra data (qcow2.txt): each field only when the entry has it */
    if (sn->extra_data_size >= 8) {
        sn->vm_state_size = qcow2_be64(extra);
    }
    sn->disk_size = sn->extra_data_size >= 16 ? qcow2_be64(extra + 8)
                                              : s->h.size;
    sn->icount = sn->extra_data_size >= 24 ? (int64_t)qcow2_be64(extra + 16)
                                           : -1;
    if (sn->extra_data_size > SN_EXTRA_SIZE) {
        sn->unknown_extra_data = g_memdup2(extra + SN_EXTRA_SIZE,
                                           sn->extra_data_size -
                                           SN_EXTRA_SIZE);
    }
    g_free(extra);

    /* id and name: at most 64 KiB each by their 16-bit sizes */
    sn->id_str = g_malloc0(id_size + 1);
    sn->name = g_malloc0(name_size + 1);
    if (!table_read(bs, file_len, *pos, sn->id_str, id_size, errp) ||
        !table_read(bs, file_len, *pos + id_size, sn->name, name_size,
                    errp)) {
        return false;
    }
    *pos = (*pos + id_size + name_size + 7) & ~7ULL;
    return true;
}

bool qcow2_read_snapshots(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t nb = s->h.nb_snapshots;
    uint64_t start = s->h.snapshots_offset, pos = start;
    int64_t file_len;

    qcow2_free_snapshots(bs);
    s->snapshots_offset = start;
    s->snapshots_size = 0;
    if (nb == 0) {
        return true;
    }
    if (nb > QCOW2_MAX_SNAPSHOTS) {
        g_set_error(errp, VIREO_ERROR, 0, "Snapshot table too large");
        return false;
    }
    file_len = bdrv_getlength(bs->file);
    if (file_len < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Failed to read snapshot table: %s",
                    g_strerror(-file_len));
        return false;
    }
    if (start == 0 || qcow2_offset_into_cluster(s, start) ||
        start >= (uint64_t)file_len) {
        g_set_error(errp, VIREO_ERROR, 0, "Invalid snapshot table offset");
        return false;
    }

    Qcow2Snapshot *sns = g_new0(Qcow2Snapshot, nb);
    for (uint32_t i = 0; i < nb; i++) {
        if (!read_snapshot_entry(bs, file_len, &pos, i, &sns[i], errp)) {
            goto fail;
        }
        if (pos - start > QCOW2_MAX_SNAPSHOTS_SIZE) {
            g_set_error(errp, VIREO_ERROR, 0, "Snapshot table is too big");
            goto fail;
        }
    }
    s->snapshots = sns;
    s->nb_snapshots = nb;
    s->snapshots_size = pos - start;
    return true;

fail:
    for (uint32_t i = 0; i < nb; i++) {
        snapshot_clear(&sns[i]);
    }
    g_free(sns);
    return false;
}

static uint32_t snapshot_extra_size(const Qcow2Snapshot *sn)
{
    /* QEMU writes its three fields, and keeps what it does not know */
    return MAX(sn->extra_data_size, SN_EXTRA_SIZE);
}

static uint64_t snapshot_entry_size(const Qcow2Snapshot *sn)
{
    uint64_t n = SN_HEADER_SIZE + snapshot_extra_size(sn) +
                 strlen(sn->id_str) + strlen(sn->name);
    return (n + 7) & ~7ULL;
}

static void encode_snapshot(const Qcow2Snapshot *sn, uint8_t *p)
{
    size_t id_len = strlen(sn->id_str), name_len = strlen(sn->name);
    uint32_t extra = snapshot_extra_size(sn);

    qcow2_put_be64(p, sn->l1_table_offset);
    put_be32(p + 8, sn->l1_size);
    put_be16(p + 12, id_len);
    put_be16(p + 14, name_len);
    put_be32(p + 16, sn->date_sec);
    put_be32(p + 20, sn->date_nsec);
    qcow2_put_be64(p + 24, sn->vm_clock_nsec);
    /* the old 32-bit field, as QEMU fills it for older readers */
    put_be32(p + 32, (uint32_t)sn->vm_state_size);
    put_be32(p + 36, extra);
    p += SN_HEADER_SIZE;
    qcow2_put_be64(p, sn->vm_state_size);
    qcow2_put_be64(p + 8, sn->disk_size);
    qcow2_put_be64(p + 16, (uint64_t)sn->icount);
    if (extra > SN_EXTRA_SIZE && sn->unknown_extra_data) {
        memcpy(p + SN_EXTRA_SIZE, sn->unknown_extra_data,
               extra - SN_EXTRA_SIZE);
    }
    p += extra;
    memcpy(p, sn->id_str, id_len);
    memcpy(p + id_len, sn->name, name_len);
}

int qcow2_write_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t size = 0, pos = 0;
    int64_t new_off = 0;
    uint8_t *buf;
    int ret;

    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        size += snapshot_entry_size(&s->snapshots[i]);
    }
    if (size > QCOW2_MAX_SNAPSHOTS_SIZE) {
        return -EFBIG;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    if (size) {
        new_off = qcow2_alloc_clusters(bs, size);
        if (new_off < 0) {
            return new_off;
        }
        buf = g_malloc0(size);
        for (uint32_t i = 0; i < s->nb_snapshots; i++) {
            encode_snapshot(&s->snapshots[i], buf + pos);
            pos += snapshot_entry_size(&s->snapshots[i]);
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, new_off, size);
        if (ret == 0) {
            ret = bdrv_pwrite(bs->file, new_off, buf, size);
        }
        g_free(buf);
        if (ret == 0) {
            /* the table's own refcount, and the table, before the header */
            ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        }
        if (ret < 0) {
            qcow2_free_clusters(bs, new_off, size);
            return ret;
        }
    }

    uint8_t hdr[12];
    put_be32(hdr, s->nb_snapshots);
    qcow2_put_be64(hdr + 4, new_off);
    ret = bdrv_pwrite(bs->file, HDR_NB_SNAPSHOTS, hdr, sizeof(hdr));
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        if (size) {
            qcow2_free_clusters(bs, new_off, size);
        }
        return ret;
    }

    uint64_t old_off = s->snapshots_offset;
    int old_size = s->snapshots_size;
    s->h.nb_snapshots = s->nb_snapshots;
    s->h.snapshots_offset = new_off;
    s->snapshots_offset = new_off;
    s->snapshots_size = size;
    if (old_size > 0) {
        qcow2_free_clusters(bs, old_off, old_size);
    }
    return 0;
}

/* By id first, then by name, as QEMU looks a snapshot up. -1: none. */
static int find_snapshot(BDRVQcow2State *s, const char *name_or_id)
{
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (!strcmp(s->snapshots[i].id_str, name_or_id)) {
            return i;
        }
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (!strcmp(s->snapshots[i].name, name_or_id)) {
            return i;
        }
    }
    return -1;
}

/* The snapshot's L1 table fits the limits (QEMU's wording). */
static bool validate_snapshot_l1(BlockDriverState *bs,
                                 const Qcow2Snapshot *sn, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_len = bdrv_getlength(bs->file);

    if (sn->l1_size > QCOW2_MAX_L1_SIZE / 8) {
        g_set_error(errp, VIREO_ERROR, 0, "Snapshot L1 table too large");
        return false;
    }
    if (sn->l1_size &&
        (sn->l1_table_offset == 0 ||
         qcow2_offset_into_cluster(s, sn->l1_table_offset) ||
         file_len < 0 || sn->l1_table_offset > (uint64_t)file_len ||
         (uint64_t)sn->l1_size * 8 > (uint64_t)file_len -
         sn->l1_table_offset)) {
        g_set_error(errp, VIREO_ERROR, 0, "Snapshot L1 table offset invalid");
        return false;
    }
    return true;
}

static char *new_snapshot_id(BDRVQcow2State *s)
{
    unsigned long max = 0;

    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        unsigned long id = strtoul(s->snapshots[i].id_str, NULL, 10);
        max = MAX(max, id);
    }
    return g_strdup_printf("%lu", max + 1);
}

bool qcow2_snapshot_create(BlockDriverState *bs, const BdrvSnapshotInfo *info,
                           GError **errp)
{
    const char *name = info->name;
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot sn = { 0 };
    int64_t l1_off = 0;
    uint64_t l1_bytes = (uint64_t)s->l1_size * 8;
    int ret;

    if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
        ret = -EFBIG;
        goto fail;
    }
    /* QEMU refuses names longer than the 16-bit size field */
    if (strlen(name) > UINT16_MAX) {
        ret = -EINVAL;
        goto fail;
    }

    /* A copy of the active L1 table, then one more reference to every
     * table and data cluster it reaches */
    if (l1_bytes) {
        uint8_t *buf = g_malloc(l1_bytes);
        l1_off = qcow2_alloc_clusters(bs, l1_bytes);
        if (l1_off < 0) {
            g_free(buf);
            ret = l1_off;
            goto fail;
        }
        for (uint32_t i = 0; i < s->l1_size; i++) {
            qcow2_put_be64(buf + 8 * i, s->l1_table[i]);
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, l1_off, l1_bytes);
        if (ret == 0) {
            ret = bdrv_pwrite(bs->file, l1_off, buf, l1_bytes);
        }
        g_free(buf);
        if (ret < 0) {
            qcow2_free_clusters(bs, l1_off, l1_bytes);
            goto fail;
        }
        ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset,
                                             s->l1_size, 1);
        if (ret < 0) {
            /* references already added stay as leaks, never too low */
            qcow2_free_clusters(bs, l1_off, l1_bytes);
            goto fail;
        }
    }

    gint64 now = g_get_real_time();
    sn.l1_table_offset = l1_off;
    sn.l1_size = s->l1_size;
    sn.id_str = new_snapshot_id(s);
    sn.name = g_strdup(name);
    sn.date_sec = now / G_USEC_PER_SEC;
    sn.date_nsec = (now % G_USEC_PER_SEC) * 1000;
    sn.disk_size = s->h.size;
    sn.vm_state_size = info->vm_state_size;
    sn.vm_clock_nsec = info->vm_clock_nsec;
    sn.icount = info->icount;
    sn.extra_data_size = SN_EXTRA_SIZE;

    s->snapshots = g_renew(Qcow2Snapshot, s->snapshots, s->nb_snapshots + 1);
    s->snapshots[s->nb_snapshots++] = sn;
    ret = qcow2_write_snapshots(bs);
    if (ret < 0) {
        s->nb_snapshots--;
        snapshot_clear(&s->snapshots[s->nb_snapshots]);
        goto fail;
    }
    /* The snapshot keeps the VM state; the active image no longer needs
     * it, and keeping it would copy it on the next savevm (as QEMU) */
    if (sn.vm_state_size) {
        ret = qcow2_cluster_discard(bs, qcow2_vm_state_offset(s),
                                    ROUND_UP(sn.vm_state_size,
                                             (uint64_t)s->cluster_size),
                                    true);
        if (ret == 0) {
            ret = qcow2_flush_caches(bs);
        }
        if (ret < 0) {
            g_set_error(errp, VIREO_ERROR, 0, "snapshot '%s' created, but "
                        "freeing the VM state in the image failed: %s",
                        name, g_strerror(-ret));
            return false;
        }
    }
    return true;

fail:
    g_set_error(errp, VIREO_ERROR, 0, "%s", g_strerror(-ret));
    return false;
}

/* Writes the 64-bit virtual size in the header (qcow2.txt "size"). */
static int write_header_size(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t be[8];
    int ret;

    qcow2_put_be64(be, size);
    ret = bdrv_pwrite(bs->file, 24, be, sizeof(be));
    if (ret == 0) {
        s->h.size = size;
    }
    return ret;
}

bool qcow2_snapshot_goto(BlockDriverState *bs, const char *name_or_id,
                         GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *sn_l1 = NULL, *old_l1 = NULL;
    uint8_t *buf = NULL;
    int i = find_snapshot(s, name_or_id), ret;

    if (i < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Failed to load snapshot: %s",
                    g_strerror(ENOENT));
        return false;
    }
    Qcow2Snapshot *sn = &s->snapshots[i];
    if (!validate_snapshot_l1(bs, sn, errp)) {
        return false;
    }
    uint64_t l1_needed = MAX((uint64_t)sn->l1_size,
                             (sn->disk_size + ((1ULL << (s->cluster_bits +
                                                         s->l2_bits)) - 1)) >>
                             (s->cluster_bits + s->l2_bits));
    if (l1_needed > QCOW2_MAX_L1_SIZE / 8) {
        g_set_error(errp, VIREO_ERROR, 0, "Snapshot L1 table too large");
        return false;
    }
    ret = qcow2_read_l1_table(bs, sn->l1_table_offset, sn->l1_size, &sn_l1);
    if (ret < 0) {
        goto fail;
    }
    if (l1_needed > s->l1_size) {
        ret = qcow2_grow_l1_table(bs, l1_needed);
        if (ret < 0) {
            goto fail;
        }
    }

    /* The snapshot's tree gains the active table's reference before the
     * active table points at it; the old tree loses it afterwards. */
    ret = qcow2_update_snapshot_refcount(bs, sn->l1_table_offset,
                                         sn->l1_size, 1);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        goto fail;
    }
    size_t bytes = (size_t)s->l1_size * 8;
    buf = g_malloc0(bytes);
    for (uint32_t j = 0; j < sn->l1_size; j++) {
        qcow2_put_be64(buf + 8 * j, sn_l1[j]);
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset, bytes);
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, s->l1_table_offset, buf, bytes);
    }
    if (ret == 0 && sn->disk_size != s->h.size) {
        ret = write_header_size(bs, sn->disk_size);
    }
    if (ret == 0) {
        ret = bdrv_flush(bs->file);
    }
    if (ret < 0) {
        goto fail;
    }

    old_l1 = g_new(uint64_t, s->l1_size + 1);
    memcpy(old_l1, s->l1_table, bytes);
    memset(s->l1_table, 0, bytes);
    memcpy(s->l1_table, sn_l1, (size_t)sn->l1_size * 8);
    ret = qcow2_update_l1_refcounts(bs, old_l1, s->l1_size, -1);
    /* whatever went wrong above leaks clusters; the flags must be right */
    int ret2 = qcow2_update_snapshot_refcount(bs, s->l1_table_offset,
                                              s->l1_size, 0);
    if (ret == 0) {
        ret = ret2;
    }
    if (ret == 0) {
        ret = qcow2_flush_caches(bs);
    }
    if (ret == 0) {
        qcow2_cache_empty(s->l2_cache);
        qcow2_cache_empty(s->refcount_block_cache);
    }
fail:
    g_free(buf);
    g_free(sn_l1);
    g_free(old_l1);
    if (ret < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "Failed to load snapshot: %s",
                    g_strerror(-ret));
        return false;
    }
    return true;
}

bool qcow2_snapshot_delete(BlockDriverState *bs, const char *name_or_id,
                           GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int i = find_snapshot(s, name_or_id), ret;
    Qcow2Snapshot sn;

    if (i < 0) {
        g_set_error(errp, VIREO_ERROR, 0, "snapshot not found");
        return false;
    }
    if (!validate_snapshot_l1(bs, &s->snapshots[i], errp)) {
        return false;
    }

    /* The table forgets the snapshot before its references go */
    sn = s->snapshots[i];
    memmove(&s->snapshots[i], &s->snapshots[i + 1],
            (s->nb_snapshots - i - 1) * sizeof(Qcow2Snapshot));
    s->nb_snapshots--;
    ret = qcow2_write_snapshots(bs);
    if (ret < 0) {
        s->snapshots = g_renew(Qcow2Snapshot, s->snapshots,
                               s->nb_snapshots + 1);
        memmove(&s->snapshots[i + 1], &s->snapshots[i],
                (s->nb_snapshots - i) * sizeof(Qcow2Snapshot));
        s->snapshots[i] = sn;
        s->nb_snapshots++;
        g_set_error(errp, VIREO_ERROR, 0, "Failed to remove snapshot from "
                    "snapshot list: %s", g_strerror(-ret));
        return false;
    }

    ret = qcow2_update_snapshot_refcount(bs, sn.l1_table_offset, sn.l1_size,
                                         -1);
    if (ret == 0 && sn.l1_size) {
        qcow2_free_clusters(bs, sn.l1_table_offset, (uint64_t)sn.l1_size * 8);
    }
    if (ret == 0) {
        ret = qcow2_flush_caches(bs);
    }
    snapshot_clear(&sn);
    if (ret < 0) {
        /* the snapshot is gone; what could not be freed is leaked */
        g_set_error(errp, VIREO_ERROR, 0, "Failed to free the cluster and L1 "
                    "table: %s", g_strerror(-ret));
        return false;
    }
    return true;
}

int qcow2_snapshot_list(BlockDriverState *bs, BdrvSnapshotInfo **psn)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvSnapshotInfo *list = g_new0(BdrvSnapshotInfo, s->nb_snapshots + 1);

    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        list[i].id = g_strdup(sn->id_str);
        list[i].name = g_strdup(sn->name);
        list[i].vm_state_size = sn->vm_state_size;
        list[i].date_sec = sn->date_sec;
        list[i].date_nsec = sn->date_nsec;
        list[i].vm_clock_nsec = sn->vm_clock_nsec;
        list[i].icount = sn->icount;
    }
    *psn = list;
    return s->nb_snapshots;
}
