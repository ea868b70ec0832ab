/*
 * qcow2's request path: reads through the mapping (data, zeros, the
 * backing file, compressed clusters), writes with allocation and
 * copy-on-write of (sub)clusters, write-zeroes, discard, compressed writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "util/defer-call.h"
#include "util/log.h"


/* ---- the request path ---- */

/*
 * A read or write on node at offset of head_len bytes from head, then bytes
 * from the part of the vector starting iov_off bytes in, then tail_len
 * bytes from tail, as one request (head and tail are the copy-on-write
 * parts of an allocating write; NULL when empty).
 */
static int node_rw_cow(BlockDriverState *node, BlockOp op, int64_t offset,
                       void *head, size_t head_len, int64_t bytes,
                       const struct iovec *iov, int iovcnt, size_t iov_off,
                       void *tail, size_t tail_len)
{
    struct iovec stack[8];
    int max = iovcnt + 2;
    struct iovec *v = max <= 8 ? stack : g_new(struct iovec, max);
    int n = 0, ret;

    if (head_len) {
        v[n++] = (struct iovec){ head, head_len };
    }
    int mid = iov_slice(v + n, iov, iovcnt, iov_off, bytes);
    bool short_vec = iov_size(v + n, mid) != (size_t)bytes;
    n += mid;
    if (tail_len) {
        v[n++] = (struct iovec){ tail, tail_len };
    }
    BlockRequest req = {
        .op = op, .offset = offset, .bytes = head_len + bytes + tail_len,
        .iov = v, .iovcnt = n,
    };
    ret = short_vec ? -EINVAL : bdrv_run_sync(node, &req);
    if (v != stack) {
        g_free(v);
    }
    return ret;
}

/* A read or write of bytes at offset on node, from/to the part of the
 * vector starting iov_off bytes in. */
static int node_rw(BlockDriverState *node, BlockOp op, int64_t offset,
                   int64_t bytes, const struct iovec *iov, int iovcnt,
                   size_t iov_off)
{
    return node_rw_cow(node, op, offset, NULL, 0, bytes, iov, iovcnt,
                       iov_off, NULL, 0);
}

static int read_backing(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        const struct iovec *iov, int iovcnt, size_t iov_off)
{
    int64_t len;
    int64_t avail = 0;
    int ret;

    if (!bs->backing) {
        iov_memset(iov, iovcnt, iov_off, 0, bytes);
        return 0;
    }
    len = bdrv_getlength(bs->backing);
    if (len < 0) {
        return len;
    }
    /* a backing file shorter than the overlay reads as zeros past its end */
    if (offset < len) {
        avail = MIN(bytes, len - offset);
        bdrv_debug_event(bs->file, BLKDBG_READ_BACKING_AIO);
        ret = node_rw(bs->backing, BLK_OP_READ, offset, avail, iov, iovcnt,
                      iov_off);
        if (ret < 0) {
            return ret;
        }
    }
    if (bytes > avail) {
        iov_memset(iov, iovcnt, iov_off + avail, 0, bytes - avail);
    }
    return 0;
}

/* Reads the guest range as this node maps it now (also for COW). */
static int do_read(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int iovcnt, size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *cbuf = NULL;
    int ret = 0;

    while (bytes > 0 && ret == 0) {
        uint64_t n = bytes, host;
        Qcow2SubclusterType type;

        ret = qcow2_get_host_offset(bs, offset, &n, &host, &type);
        if (ret < 0) {
            break;
        }
        ret = 0;
        switch (type) {
        case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            ret = read_backing(bs, offset, n, iov, iovcnt, iov_off);
            break;
        case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
            iov_memset(iov, iovcnt, iov_off, 0, n);
            break;
        case QCOW2_SUBCLUSTER_NORMAL: {
            int64_t file_len = bdrv_getlength(bs->file);
            /* data that starts past the end of the file is a broken
             * mapping, not zeros */
            if (file_len < 0 || host >= (uint64_t)file_len) {
                ret = -EIO;
                break;
            }
            bdrv_debug_event(bs->file, BLKDBG_READ_AIO);
            ret = node_rw(bs->file, BLK_OP_READ, host, n, iov, iovcnt,
                          iov_off);
            break;
        }
        case QCOW2_SUBCLUSTER_COMPRESSED:
            if (!cbuf) {
                cbuf = g_malloc(s->cluster_size);
            }
            ret = qcow2_decompress_cluster(bs, host, cbuf);
            if (ret == 0) {
                iov_from_buf(iov, iovcnt, iov_off,
                             cbuf + (offset & s->cluster_mask), n);
            }
            break;
        default:
            ret = -EIO;
            break;
        }
        offset += n;
        bytes -= n;
        iov_off += n;
    }
    g_free(cbuf);
    return ret;
}

static int read_buf(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                    uint8_t *buf)
{
    struct iovec v = { buf, bytes };
    return bytes ? do_read(bs, offset, bytes, &v, 1, 0) : 0;
}

static uint64_t sc_mask(int first, int last)
{
    /* subclusters first..last inclusive, as allocation bits */
    uint64_t hi = last == 31 ? 0xffffffffULL : (1ULL << (last + 1)) - 1;
    return hi & ~((1ULL << first) - 1);
}

static int before_allocation(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    /* with lazy refcounts the dirty bit stands for the ordering */
    return s->lazy_refcounts ? qcow2_mark_dirty(bs) : 0;
}

void qcow2_l2_updated(BlockDriverState *bs, void *l2)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s->lazy_refcounts) {
        qcow2_cache_set_dependency(s->l2_cache, s->refcount_block_cache);
    }
    qcow2_cache_mark_dirty(s->l2_cache, l2);
}

/*
 * Writes into a cluster we own (COPIED): straight into place; the parts of
 * touched subclusters that held no data are filled from what they read as.
 */
static int64_t write_in_place(BlockDriverState *bs, void *l2, int idx,
                              uint64_t offset, uint64_t bytes,
                              const struct iovec *iov, int iovcnt,
                              size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t entry = qcow2_l2_entry(s, l2, idx);
    uint64_t bitmap = qcow2_l2_bitmap(s, l2, idx);
    uint64_t host = entry & L2E_OFFSET_MASK;
    uint64_t in_cluster = offset & s->cluster_mask;
    uint64_t guest_cluster = offset - in_cluster;
    uint64_t n = MIN(bytes, s->cluster_size - in_cluster);
    int first = in_cluster >> s->subcluster_bits;
    int last = (in_cluster + n - 1) >> s->subcluster_bits;
    uint64_t start = (uint64_t)first << s->subcluster_bits;
    uint64_t end = (uint64_t)(last + 1) << s->subcluster_bits;
    Qcow2SubclusterType tf = qcow2_subcluster_type(s, entry, bitmap, first);
    Qcow2SubclusterType tl = qcow2_subcluster_type(s, entry, bitmap, last);
    uint64_t cow_start = tf == QCOW2_SUBCLUSTER_NORMAL ? in_cluster : start;
    uint64_t cow_end = tl == QCOW2_SUBCLUSTER_NORMAL ? in_cluster + n : end;
    int ret;

    if (tf == QCOW2_SUBCLUSTER_INVALID || tl == QCOW2_SUBCLUSTER_INVALID) {
        return -EIO;
    }
    /* whole normal clusters that follow contiguously go in one write */
    if (tf == QCOW2_SUBCLUSTER_NORMAL && tl == QCOW2_SUBCLUSTER_NORMAL &&
        in_cluster + n == (uint64_t)s->cluster_size) {
        for (int i = idx + 1; i < s->l2_size && n < bytes; i++) {
            uint64_t e = qcow2_l2_entry(s, l2, i);
            uint64_t b = qcow2_l2_bitmap(s, l2, i);
            bool all_normal = s->extended_l2 ? b == 0xffffffffULL
                                             : !(e & QCOW_OFLAG_ZERO);
            if (!(e & QCOW_OFLAG_COPIED) || (e & QCOW_OFLAG_COMPRESSED) ||
                (e & L2E_OFFSET_MASK) !=
                host + ((uint64_t)(i - idx) << s->cluster_bits) ||
                !all_normal) {
                break;
            }
            n += MIN((uint64_t)s->cluster_size, bytes - n);
        }
        cow_end = in_cluster + n;
    }

    if (cow_start == in_cluster && cow_end == in_cluster + n) {
        ret = qcow2_pre_write_overlap_check(bs, 0, host + in_cluster, n);
        if (ret == 0) {
            bdrv_debug_event(bs->file, BLKDBG_WRITE_AIO);
            ret = node_rw(bs->file, BLK_OP_WRITE, host + in_cluster, n, iov,
                          iovcnt, iov_off);
        }
    } else {
        uint8_t *buf = g_malloc(cow_end - cow_start);
        ret = read_buf(bs, guest_cluster + cow_start, in_cluster - cow_start,
                       buf);
        if (ret == 0) {
            ret = read_buf(bs, guest_cluster + in_cluster + n,
                           cow_end - in_cluster - n,
                           buf + (in_cluster + n - cow_start));
        }
        if (ret == 0) {
            iov_to_buf(iov, iovcnt, iov_off, buf + (in_cluster - cow_start),
                       n);
            ret = qcow2_pre_write_overlap_check(bs, 0, host + cow_start,
                                                cow_end - cow_start);
        }
        if (ret == 0) {
            bdrv_debug_event(bs->file, BLKDBG_WRITE_AIO);
            ret = bdrv_pwrite(bs->file, host + cow_start, buf,
                              cow_end - cow_start);
        }
        g_free(buf);
    }
    if (ret < 0) {
        return ret;
    }

    /* the written subclusters hold data now */
    uint64_t new_entry = entry, new_bitmap = bitmap;
    if (s->extended_l2) {
        uint64_t m = sc_mask(first, last);
        new_bitmap = (bitmap | m) & ~(m << 32);
    } else {
        new_entry &= ~QCOW_OFLAG_ZERO;
    }
    if (new_entry != entry || new_bitmap != bitmap) {
        qcow2_set_l2_entry(s, l2, idx, new_entry);
        qcow2_set_l2_bitmap(s, l2, idx, new_bitmap);
        qcow2_cache_mark_dirty(s->l2_cache, l2);
    }
    return n;
}

/*
 * Allocated data clusters lie in the file (allocation and preallocation
 * extend it): one that starts past the end comes from a broken or hostile
 * image, and writing it would grow the file to wherever it points. The
 * length is asked for only when a cluster lies past the one seen last.
 */
static int host_in_file(BlockDriverState *bs, uint64_t host)
{
    if (qcow2_offset_in_file(bs, host)) {
        return 0;
    }
    return qcow2_signal_corruption(bs, "Data cluster offset %#" PRIx64
                                   " is past the end of the image file",
                                   host);
}

static bool entry_in_place(BDRVQcow2State *s, uint64_t entry)
{
    return !(entry & QCOW_OFLAG_COMPRESSED) && (entry & QCOW_OFLAG_COPIED) &&
           (entry & L2E_OFFSET_MASK);
}

bool qcow2_entry_has_host(uint64_t entry)
{
    return (entry & QCOW_OFLAG_COMPRESSED) || (entry & L2E_OFFSET_MASK);
}

/*
 * Writes into clusters that need new host clusters: allocates a run of
 * them at once, fills the head and tail from what the old mapping reads
 * as (copy-on-write), then points the L2 entries at them and drops the
 * references the old entries held.
 */
static int64_t write_allocate(BlockDriverState *bs, void *l2, int idx,
                              uint64_t offset, uint64_t bytes,
                              const struct iovec *iov, int iovcnt,
                              size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t in_cluster = offset & s->cluster_mask;
    uint64_t guest_cluster = offset - in_cluster;
    uint64_t n = MIN(bytes, cs - in_cluster);
    int k = 1;
    int ret;

    /* following clusters the write covers that also need allocation */
    while (in_cluster + n == (uint64_t)k * cs && n < bytes &&
           idx + k < s->l2_size &&
           !entry_in_place(s, qcow2_l2_entry(s, l2, idx + k))) {
        n += MIN(cs, bytes - n);
        k++;
    }
    uint64_t old_first = qcow2_l2_entry(s, l2, idx);
    uint64_t old_last = qcow2_l2_entry(s, l2, idx + k - 1);
    uint64_t end_in_last = in_cluster + n - (uint64_t)(k - 1) * cs;
    /* extended L2 copies only the touched subclusters of a cluster with no
     * host cluster yet; anything else is copied whole */
    uint64_t cow_start = 0;
    uint64_t cow_end_last = cs;
    if (s->extended_l2 && !qcow2_entry_has_host(old_first)) {
        cow_start = in_cluster & ~(uint64_t)(s->subcluster_size - 1);
    }
    if (s->extended_l2 && !qcow2_entry_has_host(old_last)) {
        cow_end_last = ROUND_UP(end_in_last, (uint64_t)s->subcluster_size);
    }
    uint64_t cow_end = (uint64_t)(k - 1) * cs + cow_end_last;

    ret = before_allocation(bs);
    if (ret < 0) {
        return ret;
    }
    int64_t host = qcow2_alloc_clusters(bs, (int64_t)k * cs);
    if (host < 0) {
        return host;
    }
    /* the new data goes from the caller's buffers, between what the
     * head and tail read as, in one write */
    uint64_t head_len = in_cluster - cow_start;
    uint64_t tail_len = cow_end - in_cluster - n;
    uint8_t *head = head_len ? g_malloc(head_len) : NULL;
    uint8_t *tail = tail_len ? g_malloc(tail_len) : NULL;
    ret = read_buf(bs, guest_cluster + cow_start, head_len, head);
    if (ret == 0) {
        ret = read_buf(bs, guest_cluster + in_cluster + n, tail_len, tail);
    }
    if (ret == 0) {
        ret = qcow2_pre_write_overlap_check(bs, 0, host + cow_start,
                                            cow_end - cow_start);
    }
    if (ret == 0) {
        bdrv_debug_event(bs->file, BLKDBG_WRITE_AIO);
        ret = node_rw_cow(bs->file, BLK_OP_WRITE, host + cow_start, head,
                          head_len, n, iov, iovcnt, iov_off, tail, tail_len);
    }
    g_free(head);
    g_free(tail);
    if (ret < 0) {
        qcow2_free_clusters(bs, host, (int64_t)k * cs);
        return ret;
    }

    uint64_t *old = g_new(uint64_t, k);
    for (int j = 0; j < k; j++) {
        uint64_t e = qcow2_l2_entry(s, l2, idx + j);
        uint64_t b = qcow2_l2_bitmap(s, l2, idx + j);
        old[j] = e;
        qcow2_set_l2_entry(s, l2, idx + j,
                           (host + (uint64_t)j * cs) | QCOW_OFLAG_COPIED);
        if (s->extended_l2) {
            uint64_t a = j == 0 ? cow_start : 0;
            uint64_t z = j == k - 1 ? cow_end_last : cs;
            uint64_t m = sc_mask(a >> s->subcluster_bits,
                                 (z - 1) >> s->subcluster_bits);
            /* untouched subclusters keep reading zeros or the backing */
            b = qcow2_entry_has_host(e) ? 0xffffffffULL
                                  : (m | (b & ~(m << 32) & ~0xffffffffULL));
            qcow2_set_l2_bitmap(s, l2, idx + j, b);
        }
    }
    qcow2_l2_updated(bs, l2);
    for (int j = 0; j < k; j++) {
        if (qcow2_entry_has_host(old[j])) {
            /* the new L2 entry reaches the disk before the old cluster's
             * refcount drops */
            qcow2_cache_set_dependency(s->refcount_block_cache, s->l2_cache);
            qcow2_free_any_cluster(bs, old[j]);
        }
    }
    g_free(old);
    return n;
}

static int do_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                    const struct iovec *iov, int iovcnt, size_t iov_off)
{
    BDRVQcow2State *s = bs->opaque;

    while (bytes > 0) {
        void *l2;
        int idx;
        int64_t n;
        int ret = qcow2_l2_get_for_write(bs, offset, &l2, &idx);
        if (ret < 0) {
            return ret;
        }
        uint64_t entry = qcow2_l2_entry(s, l2, idx);
        uint64_t host = entry & L2E_OFFSET_MASK;
        if (entry_in_place(s, entry) && (host & s->cluster_mask)) {
            qcow2_cache_put(s->l2_cache, &l2);
            return qcow2_signal_corruption(bs, "Cluster allocation offset %#"
                                           PRIx64 " unaligned (L2 index: "
                                           "%#x)", host, idx);
        }
        if (entry_in_place(s, entry)) {
            ret = host_in_file(bs, host);
            if (ret < 0) {
                qcow2_cache_put(s->l2_cache, &l2);
                return ret;
            }
        }
        if (entry_in_place(s, entry)) {
            n = write_in_place(bs, l2, idx, offset, bytes, iov, iovcnt,
                               iov_off);
        } else {
            n = write_allocate(bs, l2, idx, offset, bytes, iov, iovcnt,
                               iov_off);
        }
        qcow2_cache_put(s->l2_cache, &l2);
        if (n < 0) {
            return n;
        }
        offset += n;
        bytes -= n;
        iov_off += n;
    }
    return 0;
}

int qcow2_write_zero_buffer(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    size_t chunk = MAX((size_t)s->cluster_size, 1024 * 1024);
    uint8_t *zeros = g_malloc0(MIN(chunk, bytes));
    int ret = 0;

    while (bytes > 0 && ret == 0) {
        uint64_t n = MIN(bytes, chunk);
        struct iovec v = { zeros, n };
        ret = do_write(bs, offset, n, &v, 1, 0);
        offset += n;
        bytes -= n;
    }
    g_free(zeros);
    return ret;
}

/* BLK_OP_ZEROES: zero flags where whole (sub)clusters are covered */
static int do_write_zeroes(BlockDriverState *bs, uint64_t offset,
                           uint64_t bytes, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t end = offset + bytes;
    uint64_t cstart = ROUND_UP(offset, cs);
    uint64_t cend = end / cs * cs;
    bool may_unmap = flags & BLK_ZERO_MAY_UNMAP;
    int ret;

    /* the last cluster of the disk counts as whole */
    if (end == s->h.size) {
        cend = ROUND_UP(end, cs);
    }
    if (cstart >= cend) {
        cstart = cend = offset;     /* no whole cluster */
    }
    if (s->h.version < 3) {
        /* no zero flag: only unallocating gives zeros, without a
         * backing file; everything else is written */
        if (bs->backing || !may_unmap || cstart == cend) {
            return qcow2_write_zero_buffer(bs, offset, bytes);
        }
        ret = qcow2_write_zero_buffer(bs, offset, cstart - offset);
        if (ret == 0) {
            ret = qcow2_cluster_discard(bs, cstart, cend - cstart, true);
        }
        if (ret == 0) {
            ret = qcow2_write_zero_buffer(bs, cend, end - MIN(end, cend));
        }
        return ret;
    }

    /* partial clusters at either end */
    uint64_t pieces[2][2] = {
        { offset, cstart }, { MAX(cend, offset), end },
    };
    if (cstart < cend) {
        ret = qcow2_cluster_zeroize(bs, cstart, cend - cstart, may_unmap);
        if (ret < 0) {
            return ret;
        }
    } else {
        pieces[0][1] = end;
        pieces[1][0] = pieces[1][1] = end;
    }
    for (int i = 0; i < 2; i++) {
        uint64_t a = pieces[i][0], b = pieces[i][1];
        uint64_t scs = s->subcluster_size;
        while (a < b) {
            uint64_t ce = MIN(b, (a / cs + 1) * cs);
            uint64_t sa = ROUND_UP(a, scs), sb = ce / scs * scs;
            if (ce == s->h.size) {
                sb = ROUND_UP(ce, scs);
            }
            if (s->extended_l2 && sa < sb) {
                ret = qcow2_write_zero_buffer(bs, a, sa - a);
                if (ret == 0) {
                    ret = qcow2_subclusters_zeroize(bs, sa, sb - sa);
                    if (ret == -ENOTSUP) {
                        ret = qcow2_write_zero_buffer(bs, sa, MIN(sb, ce) - sa);
                    }
                }
                if (ret == 0 && sb < ce) {
                    ret = qcow2_write_zero_buffer(bs, sb, ce - sb);
                }
            } else {
                ret = qcow2_write_zero_buffer(bs, a, ce - a);
            }
            if (ret < 0) {
                return ret;
            }
            a = ce;
        }
    }
    return 0;
}

static int do_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t start = ROUND_UP(offset, cs);
    uint64_t end = offset + bytes;

    /* discard is advisory: partial clusters stay, except the last one of
     * the disk */
    end = end == s->h.size ? ROUND_UP(end, cs) : end / cs * cs;
    if (start >= end) {
        return 0;
    }
    return qcow2_cluster_discard(bs, start, end - start, false);
}

/*
 * BLK_REQ_WRITE_COMPRESSED, the part under s->lock: stores len bytes of
 * compressed data for the cluster at offset, packed after earlier
 * compressed data, and points its L2 entry at them.
 */
static int write_compressed_locked(BlockDriverState *bs, uint64_t offset,
                                   const uint8_t *data, int64_t len)
{
    BDRVQcow2State *s = bs->opaque;
    void *l2;
    int idx;
    int ret = qcow2_l2_get_for_write(bs, offset, &l2, &idx);
    if (ret < 0) {
        return ret;
    }
    ret = before_allocation(bs);
    int64_t host = ret < 0 ? ret : qcow2_alloc_bytes(bs, len);
    if (host < 0) {
        ret = host;
        goto out;
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, host, len);
    if (ret == 0) {
        ret = bdrv_pwrite(bs->file, host, data, len);
    }
    if (ret < 0) {
        qcow2_free_clusters(bs, host, len);
        goto out;
    }
    uint64_t old = qcow2_l2_entry(s, l2, idx);
    uint64_t nb_csectors = ((host + len - 1) >> 9) - (host >> 9);
    qcow2_set_l2_entry(s, l2, idx, host | QCOW_OFLAG_COMPRESSED |
                       (nb_csectors << s->csize_shift));
    qcow2_set_l2_bitmap(s, l2, idx, 0);
    qcow2_l2_updated(bs, l2);
    if (qcow2_entry_has_host(old)) {
        qcow2_cache_set_dependency(s->refcount_block_cache, s->l2_cache);
        qcow2_free_any_cluster(bs, old);
    }
out:
    qcow2_cache_put(s->l2_cache, &l2);
    return ret;
}

/* What every request checks under s->lock before it touches the image. */
static int request_check_locked(BlockDriverState *bs, BlockOp op,
                                int64_t offset, int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->corrupt) {
        return -EIO;
    }
    if (op != BLK_OP_FLUSH && op != BLK_OP_READ && s->read_only) {
        return -EPERM;
    }
    if (op != BLK_OP_FLUSH &&
        (offset < 0 || bytes < 0 ||
         (op != BLK_OP_READ && op != BLK_OP_DISCARD &&
          (uint64_t)offset + bytes > s->h.size))) {
        return -EIO;
    }
    return 0;
}

/*
 * BLK_REQ_WRITE_COMPRESSED: whole clusters (a short last cluster of the
 * disk padded with zeros), each stored compressed where that saves space.
 * All of them are compressed before s->lock is taken, so writers on
 * several threads (vireo-img convert -c -m N) compress in parallel; under
 * the lock they are written in order, the compressed bytes packed one
 * after the other and runs of incompressible clusters allocated together,
 * so a request's clusters stay contiguous in the file.
 */
static int run_write_compressed(BlockDriverState *bs, BlockRequest *req)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t offset = req->offset, bytes = req->bytes;
    int ret;

    g_mutex_lock(&s->lock);
    ret = request_check_locked(bs, BLK_OP_WRITE, req->offset, req->bytes);
    /* whole clusters; only the last cluster of the disk may be short */
    if (ret == 0 && ((offset & s->cluster_mask) ||
                     ((bytes & s->cluster_mask) &&
                      offset + bytes != s->h.size))) {
        ret = -EINVAL;
    }
    g_mutex_unlock(&s->lock);
    if (ret < 0 || bytes == 0) {
        return ret;
    }

    uint64_t nb = (bytes + cs - 1) / cs;
    uint8_t *in = g_malloc(nb * cs);
    uint8_t *out = g_malloc(nb * cs);
    int64_t *len = g_new(int64_t, nb);
    memset(in + bytes, 0, nb * cs - bytes);
    iov_to_buf(req->iov, req->iovcnt, 0, in, bytes);
    for (uint64_t i = 0; i < nb; i++) {
        /* -ENOSPC: incompressible, stored as a normal cluster */
        len[i] = qcow2_compress_cluster(s, out + i * cs, cs - 1, in + i * cs,
                                        cs);
        if (len[i] < 0 && len[i] != -ENOSPC) {
            ret = len[i];
            goto out;
        }
    }

    g_mutex_lock(&s->lock);
    /* checked again: the image may have changed while unlocked */
    ret = request_check_locked(bs, BLK_OP_WRITE, offset, bytes);
    for (uint64_t i = 0; i < nb && ret == 0;) {
        uint64_t k = 1;
        if (len[i] == -ENOSPC) {
            while (i + k < nb && len[i + k] == -ENOSPC) {
                k++;
            }
            struct iovec v = { in + i * cs, k * cs };
            ret = do_write(bs, offset + i * cs, k * cs, &v, 1, 0);
        } else {
            ret = write_compressed_locked(bs, offset + i * cs, out + i * cs,
                                          len[i]);
        }
        i += k;
    }
    if (ret == 0 && (req->flags & BLK_REQ_FUA)) {
        ret = qcow2_flush_caches(bs);
    }
    g_mutex_unlock(&s->lock);
out:
    g_free(in);
    g_free(out);
    g_free(len);
    return ret;
}

static int qcow2_run_locked(BlockDriverState *bs, BlockRequest *req)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t size = s->h.size;
    uint64_t offset = req->offset, bytes = req->bytes;
    int ret = request_check_locked(bs, req->op, req->offset, req->bytes);

    if (ret < 0) {
        return ret;
    }
    switch (req->op) {
    case BLK_OP_READ: {
        uint64_t in = offset >= size ? 0 : MIN(bytes, size - offset);
        ret = do_read(bs, offset, in, req->iov, req->iovcnt, 0);
        if (ret == 0 && in < bytes) {
            iov_memset(req->iov, req->iovcnt, in, 0, bytes - in);
        }
        return ret;
    }
    case BLK_OP_WRITE:
        ret = do_write(bs, offset, bytes, req->iov, req->iovcnt, 0);
        break;
    case BLK_OP_ZEROES:
        ret = do_write_zeroes(bs, offset, bytes, req->flags);
        break;
    case BLK_OP_DISCARD:
        if (offset >= size) {
            return 0;
        }
        ret = do_discard(bs, offset, MIN(bytes, size - offset));
        break;
    case BLK_OP_FLUSH:
        return s->read_only ? 0 : qcow2_flush_caches(bs);
    default:
        return -EINVAL;
    }
    if (ret == 0 && (req->flags & BLK_REQ_FUA)) {
        ret = qcow2_flush_caches(bs);
    }
    return ret;
}

/* ---- reads and writes in place on the main loop ---- */

/*
 * A read whose whole range maps to data clusters (or to zeros), or a write
 * (without FUA) whose whole range lies in data clusters this image alone
 * uses (COPIED, every touched subcluster allocated, so the L2 entry stays
 * as it is), through L2 tables already in the cache, goes straight to
 * bs->file from the main loop, asynchronously (libaio or io_uring with
 * aio=native/io_uring), instead of through the thread pool and a
 * synchronous read: the hop and the blocked worker cost CPU the vCPU
 * threads need. The main loop takes s->lock only with trylock, maps the
 * request, submits the pieces and unlocks; anything else (a miss in the
 * cache, backing file, compressed clusters, allocation, a busy lock) goes
 * to the pool as before. A write in place checks the metadata overlap
 * (a hit goes to the slow path, which reports the corruption).
 *
 * Safety: between the lookup and the end of the I/O, the host clusters
 * must not be freed and reused for other data or metadata (a write there
 * would corrupt the image, a read would return another cluster's data).
 * Every request of the slow path that may free or allocate clusters
 * (write, write zeroes, discard; reads and flushes do neither) is a
 * blocker: no fast request starts while one is pending, and a blocker
 * starts its work only once no fast request is in flight (fast_blockers
 * and fast_inflight change together under fast_lock). So a fast request
 * never overlaps a request that changes the mapping: it reads or writes
 * the clusters its mapping had when it started, and those stay allocated
 * to the same guest offsets until it ends. Blockers submitted here while
 * fast requests are in flight wait in fast_deferred and go to the pool
 * when the last one ends, so no pool thread ever sleeps on them (their
 * pieces may need the pool themselves, with aio=threads or a bounce
 * buffer). Synchronous callers (bdrv_run_sync) wait before taking s->lock,
 * never while holding it. Operations outside the request path that free
 * or allocate (snapshots, resize, amend) must bracket themselves with
 * qcow2_fast_reads_block/unblock when requests can be in flight, as the
 * snapshot operations and the VM-state writes of savevm do.
 *
 * No deadlock: fast requests complete on the main loop through the file's
 * completion path, which needs neither s->lock nor a blocked pool thread;
 * the main loop only trylocks s->lock here and holds fast_lock for a few
 * instructions; a waiter holds nothing but, briefly, fast_lock (released
 * by g_cond_wait). A synchronous blocker on the main loop itself runs the
 * main loop until the fast requests end, as blk_drain does, instead of
 * sleeping.
 */

typedef struct FastRead {
    BlockDriverState *bs;
    BlockRequest *req;
    int pending;            /* pieces in flight, +1 while submitting */
    int ret;                /* the first error */
} FastRead;

typedef struct FastPiece {
    BlockRequest req;
    FastRead *parent;
    struct iovec iov[];
} FastPiece;

/* a run of the request contiguous in the file */
typedef struct FastRun {
    uint64_t iov_off;
    uint64_t host;
    uint64_t bytes;
} FastRun;

static GThread *fast_thread;    /* the main loop: where fast reads start */

/* A fast read's data I/O ended (main loop). */
static void fast_read_end(BDRVQcow2State *s)
{
    GQueue deferred = G_QUEUE_INIT;

    g_mutex_lock(&s->fast_lock);
    if (--s->fast_inflight == 0) {
        g_cond_broadcast(&s->fast_cond);
        deferred = s->fast_deferred;
        g_queue_init(&s->fast_deferred);
    }
    g_mutex_unlock(&s->fast_lock);
    for (GList *l = deferred.head; l; l = l->next) {
        BlockRequest *req = l->data;
        block_run_in_pool(req->pool_bs, req);
    }
    g_queue_clear(&deferred);
}

static void fast_block_begin(BDRVQcow2State *s)
{
    g_mutex_lock(&s->fast_lock);
    g_atomic_int_inc(&s->fast_blockers);
    if (g_thread_self() == g_atomic_pointer_get(&fast_thread)) {
        while (s->fast_inflight > 0) {
            g_mutex_unlock(&s->fast_lock);
            defer_call_flush();
            g_main_context_iteration(NULL, TRUE);
            g_mutex_lock(&s->fast_lock);
        }
    } else {
        while (s->fast_inflight > 0) {
            g_cond_wait(&s->fast_cond, &s->fast_lock);
        }
    }
    g_mutex_unlock(&s->fast_lock);
}

static void fast_block_end(BDRVQcow2State *s)
{
    g_mutex_lock(&s->fast_lock);
    g_atomic_int_add(&s->fast_blockers, -1);
    g_mutex_unlock(&s->fast_lock);
}

void qcow2_fast_reads_block(BlockDriverState *bs)
{
    fast_block_begin(bs->opaque);
}

void qcow2_fast_reads_unblock(BlockDriverState *bs)
{
    fast_block_end(bs->opaque);
}

static bool op_changes_mapping(BlockOp op)
{
    return op != BLK_OP_READ && op != BLK_OP_FLUSH;
}

static void fast_read_put(FastRead *fr, bool from_submit)
{
    if (--fr->pending > 0) {
        return;
    }
    BDRVQcow2State *s = fr->bs->opaque;
    BlockRequest *req = fr->req;

    fast_read_end(s);
    req->ret = fr->ret;
    g_free(fr);
    if (from_submit) {
        block_complete_later(req);  /* never complete inside submit */
    } else {
        req->done(req);
    }
}

static void fast_piece_done(BlockRequest *preq)
{
    FastPiece *p = (FastPiece *)preq;
    FastRead *fr = p->parent;

    if (preq->ret < 0 && fr->ret == 0) {
        fr->ret = preq->ret;
    }
    g_free(p);
    fast_read_put(fr, false);
}

/*
 * Maps [offset, offset + bytes) without I/O into runs of host data (zero
 * ranges are filled in the vector right away); false when some part needs
 * the slow path. s->lock held.
 */
static bool fast_map(BlockDriverState *bs, BlockRequest *req, GArray *runs)
{
    BDRVQcow2State *s = bs->opaque;
    bool write = req->op == BLK_OP_WRITE;
    uint64_t offset = req->offset, left = req->bytes, iov_off = 0;
    void *l2 = NULL;
    uint64_t l2_offset = 0;
    bool ok = true;

    while (left > 0 && ok) {
        uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
        uint64_t in_cluster = offset & s->cluster_mask;
        uint64_t in_sc = offset & (s->subcluster_size - 1);
        uint64_t n = MIN(left, (uint64_t)s->subcluster_size - in_sc);
        uint64_t lo = l1_index < s->l1_size
                          ? s->l1_table[l1_index] & L1E_OFFSET_MASK : 0;
        Qcow2SubclusterType t = QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
        uint64_t host = 0, entry = 0;

        if (lo != l2_offset && l2) {
            qcow2_cache_put(s->l2_cache, &l2);
        }
        l2_offset = lo;
        if (lo && !l2) {
            if ((lo & s->cluster_mask) ||
                qcow2_cache_peek(s->l2_cache, lo, &l2) < 0) {
                ok = false;
                break;
            }
        }
        if (lo) {
            int idx = (offset >> s->cluster_bits) & (s->l2_size - 1);
            entry = qcow2_l2_entry(s, l2, idx);
            uint64_t bitmap = qcow2_l2_bitmap(s, l2, idx);
            t = qcow2_subcluster_type(s, entry, bitmap,
                                      in_cluster >> s->subcluster_bits);
            host = entry & L2E_OFFSET_MASK;
        }
        /* a write in place: into data clusters only this L2 entry uses,
         * with nothing to change in the entry (the slow path sets the
         * allocation bits and drops zero flags) */
        if (write && (t != QCOW2_SUBCLUSTER_NORMAL ||
                      !(entry & QCOW_OFLAG_COPIED))) {
            ok = false;
            break;
        }
        switch (t) {
        case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            if (bs->backing) {
                ok = false;
                break;
            }
            iov_memset(req->iov, req->iovcnt, iov_off, 0, n);
            break;
        case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
            if (s->h.version < 3) {
                ok = false;     /* corruption: the slow path reports it */
                break;
            }
            iov_memset(req->iov, req->iovcnt, iov_off, 0, n);
            break;
        case QCOW2_SUBCLUSTER_NORMAL: {
            FastRun *last = runs->len
                ? &g_array_index(runs, FastRun, runs->len - 1) : NULL;
            if ((host & s->cluster_mask) ||
                !qcow2_offset_in_file(bs, host)) {
                ok = false;
                break;
            }
            host += in_cluster;
            /* a write onto metadata: the slow path reports corruption */
            if (write && qcow2_check_metadata_overlap(bs, 0, host, n)) {
                ok = false;
                break;
            }
            if (last && last->iov_off + last->bytes == iov_off &&
                last->host + last->bytes == host) {
                last->bytes += n;
            } else {
                FastRun r = { iov_off, host, n };
                g_array_append_val(runs, r);
            }
            break;
        }
        default:
            ok = false;
            break;
        }
        offset += n;
        left -= n;
        iov_off += n;
    }
    if (l2) {
        qcow2_cache_put(s->l2_cache, &l2);
    }
    return ok;
}

/* One run as a request on bs->file, over its part of the vector. */
static FastPiece *fast_piece_new(FastRead *fr, const FastRun *r)
{
    BlockRequest *req = fr->req;
    FastPiece *p = g_malloc0(sizeof(*p) +
                             req->iovcnt * sizeof(struct iovec));
    int n = iov_slice(p->iov, req->iov, req->iovcnt, r->iov_off, r->bytes);

    p->parent = fr;
    p->req.op = req->op;
    p->req.offset = r->host;
    p->req.bytes = r->bytes;
    p->req.iov = p->iov;
    p->req.iovcnt = n;
    p->req.done = fast_piece_done;
    return p;
}

/* The fast path for a read or a write in place; false: the caller takes
 * the slow path. */
static bool fast_rw(BlockDriverState *bs, BlockRequest *req)
{
    BDRVQcow2State *s = bs->opaque;

    /* FUA writes flush the metadata caches too: the slow path's job */
    if ((req->op != BLK_OP_READ && req->op != BLK_OP_WRITE) ||
        (req->op == BLK_OP_WRITE && req->flags) || req->bytes <= 0 ||
        req->offset < 0 ||
        (uint64_t)req->bytes != iov_size(req->iov, req->iovcnt) ||
        !g_mutex_trylock(&s->lock)) {
        return false;
    }
    if (s->corrupt || g_atomic_int_get(&s->fast_blockers) ||
        (uint64_t)req->offset + req->bytes > s->h.size ||
        (req->op == BLK_OP_WRITE && s->read_only)) {
        g_mutex_unlock(&s->lock);
        return false;
    }
    GArray *runs = g_array_new(false, false, sizeof(FastRun));
    bool ok = fast_map(bs, req, runs);
    if (ok) {
        g_mutex_lock(&s->fast_lock);
        ok = g_atomic_int_get(&s->fast_blockers) == 0;
        if (ok) {
            s->fast_inflight++;
        }
        g_mutex_unlock(&s->fast_lock);
    }
    if (!ok) {
        g_mutex_unlock(&s->lock);
        g_array_free(runs, true);
        return false;
    }
    g_atomic_pointer_set(&fast_thread, g_thread_self());

    FastRead *fr = g_new0(FastRead, 1);
    fr->bs = bs;
    fr->req = req;
    fr->pending = runs->len + 1;
    FastPiece **pieces = g_new(FastPiece *, runs->len + 1);
    for (guint i = 0; i < runs->len; i++) {
        pieces[i] = fast_piece_new(fr, &g_array_index(runs, FastRun, i));
    }
    g_mutex_unlock(&s->lock);
    /* a piece may complete (fail) right inside bdrv_submit */
    for (guint i = 0; i < runs->len; i++) {
        bdrv_debug_event(bs->file, req->op == BLK_OP_READ ? BLKDBG_READ_AIO
                                                          : BLKDBG_WRITE_AIO);
        bdrv_submit(bs->file, &pieces[i]->req);
    }
    g_free(pieces);
    g_array_free(runs, true);
    fast_read_put(fr, true);
    return true;
}

int qcow2_run_sync(BlockDriverState *bs, BlockRequest *req)
{
    BDRVQcow2State *s = bs->opaque;
    /* blockers from qcow2_submit were counted (and waited) there */
    bool submitted = req->pool_bs == bs;
    bool block = op_changes_mapping(req->op);
    int ret;

    if (block && !submitted) {
        fast_block_begin(s);
    }
    if (req->op == BLK_OP_WRITE && (req->flags & BLK_REQ_WRITE_COMPRESSED)) {
        ret = run_write_compressed(bs, req);
    } else {
        g_mutex_lock(&s->lock);
        ret = qcow2_run_locked(bs, req);
        g_mutex_unlock(&s->lock);
    }
    if (block) {
        fast_block_end(s);
    }
    return ret;
}

int qcow2_vmstate_rw(BlockDriverState *bs, bool is_write, void *buf,
                     uint64_t pos, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t base = qcow2_vm_state_offset(s);
    /* the end of the largest L1 table's reach */
    uint64_t limit = (uint64_t)(QCOW2_MAX_L1_SIZE / 8)
                     << (s->cluster_bits + s->l2_bits);
    struct iovec v = { buf, size };
    int ret;

    if (base > limit || pos > limit - base || size > limit - base - pos) {
        return -EFBIG;
    }
    if (is_write) {
        fast_block_begin(s);
    }
    g_mutex_lock(&s->lock);
    if (s->corrupt) {
        ret = -EIO;
    } else if (is_write && s->read_only) {
        ret = -EPERM;
    } else if (!size) {
        ret = 0;
    } else {
        ret = is_write ? do_write(bs, base + pos, size, &v, 1, 0)
                       : do_read(bs, base + pos, size, &v, 1, 0);
    }
    g_mutex_unlock(&s->lock);
    if (is_write) {
        fast_block_end(s);
    }
    return ret;
}

void qcow2_submit(BlockDriverState *bs, BlockRequest *req)
{
    BDRVQcow2State *s = bs->opaque;

    if (fast_rw(bs, req)) {
        return;
    }
    req->pool_bs = bs;
    if (op_changes_mapping(req->op)) {
        g_mutex_lock(&s->fast_lock);
        g_atomic_int_inc(&s->fast_blockers);
        if (s->fast_inflight > 0) {
            g_queue_push_tail(&s->fast_deferred, req);
            req = NULL;
        }
        g_mutex_unlock(&s->fast_lock);
        if (!req) {
            return;
        }
    }
    block_run_in_pool(bs, req);
}
