/* SPDX-License-Identifier: Apache-2.0 */
#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk_io.h"
#include "inherited_fd.h"
#include "le.h"

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define BOUNCE_SIZE         (256u * 1024u)
#define MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
#define HDR_SIZE            16
#define MAX_DEPTH           256 /* requests in flight per disk */
#define INLINE_IOV          4   /* data segments a request holds without allocating */

/* A read, write or flush handed to the ring, until its completion. */
typedef struct BlkReq {
    uint16_t q, head;
    uint32_t type;
    uint64_t pos, len;
    uint8_t *status; /* inside guest RAM (virtq_chain_iov) */
    struct iovec *iov; /* the data, straight in guest RAM */
    unsigned n_iov;
    struct iovec inline_iov[INLINE_IOV];
} BlkReq;

struct VirtioBlk {
    int fd;
    bool readonly, direct;
    uint64_t capacity; /* sectors */
    uint16_t num_queues, queue_size;
    char serial[VIRTIO_BLK_ID_BYTES];
    uint8_t *bounce;
    VirtioDeviceOps ops;
    VirtioPci *transport;
    VirtioBlkCounters counters;
    RateLimiterHandle limit; /* limit.limiter NULL: unlimited */
    uint64_t waiting_queues; /* bit q: queue q has a request waiting for the limiter */
    uint32_t dio_align;      /* direct=on: guest buffers aligned to this go to the file as they are */
    BlkIo *io;               /* NULL: every request is done synchronously on the worker */
    BlkReq *reqs;            /* io's depth of them */
    uint32_t *free_reqs, n_free;
    uint64_t full_queues; /* bit q: queue q stopped because the ring was full */
    bool dropping;        /* completions are thrown away: the driver reset the device */
    bool submit_failed;   /* logged once */
};

static void count(const VirtioBlk *b, const uint64_t *field, uint64_t n)
{
    (void)b;
    __atomic_fetch_add((uint64_t *)field, n, __ATOMIC_RELAXED);
}

/* struct virtio_blk_config, the fields we offer. */
static void blk_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
    VirtioBlk *b = dev;
    uint8_t c[0x3c] = {0};
    for (int i = 0; i < 8; i++)
        c[i] = (uint8_t)(b->capacity >> (8 * i));
    put32(c + 0x0c, (uint32_t)b->queue_size - 2); /* seg_max: room for header and status */
    put32(c + 0x14, VIRTIO_BLK_SECTOR);           /* blk_size */
    c[0x22] = (uint8_t)b->num_queues;
    c[0x23] = (uint8_t)(b->num_queues >> 8);
    put32(c + 0x24, MAX_DISCARD_SECTORS);
    put32(c + 0x28, 1); /* max_discard_seg */
    put32(c + 0x2c, 1); /* discard_sector_alignment */
    put32(c + 0x30, MAX_DISCARD_SECTORS);
    put32(c + 0x34, 1); /* max_write_zeroes_seg */
    for (uint32_t i = 0; i < len; i++)
        data[i] = offset + i < sizeof(c) ? c[offset + i] : 0;
}

static bool range_ok(const VirtioBlk *b, uint64_t sector, uint64_t n_sectors)
{
    return sector <= b->capacity && n_sectors <= b->capacity - sector;
}

static int do_pread(VirtioBlk *b, uint8_t *buf, uint64_t len, uint64_t pos)
{
    while (len) {
        ssize_t n = pread(b->fd, buf, len, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO; /* the file shrank under us */
        buf += n;
        len -= (uint64_t)n;
        pos += (uint64_t)n;
    }
    return 0;
}

static int do_pwrite(VirtioBlk *b, const uint8_t *buf, uint64_t len, uint64_t pos)
{
    while (len) {
        ssize_t n = pwrite(b->fd, buf, len, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        buf += n;
        len -= (uint64_t)n;
        pos += (uint64_t)n;
    }
    return 0;
}

static void req_free_iov(BlkReq *r)
{
    if (r->iov != r->inline_iov)
        free(r->iov);
    r->iov = NULL;
}

/* The request's data as iovecs into guest RAM: the writable bytes before
 * the status of a read, the readable bytes after the header of a write. */
static int data_iov(const Virtqueue *vq, const VirtqChain *c, bool in, uint64_t len, BlkReq *r)
{
    r->iov = c->n_bufs <= INLINE_IOV ? r->inline_iov : malloc(sizeof(*r->iov) * c->n_bufs);
    if (!r->iov)
        return -ENOMEM;
    int n = virtq_chain_iov(vq, c, in, in ? 0 : HDR_SIZE, len, r->iov, c->n_bufs);
    if (n < 0) {
        req_free_iov(r);
        return n;
    }
    r->n_iov = (unsigned)n;
    return 0;
}

/* O_DIRECT takes the guest's buffers only when every segment starts and
 * ends on the device's logical block. */
static bool dio_aligned(const VirtioBlk *b, const struct iovec *iov, unsigned n, uint64_t pos)
{
    if (pos % b->dio_align)
        return false;
    for (unsigned i = 0; i < n; i++)
        if ((uintptr_t)iov[i].iov_base % b->dio_align || iov[i].iov_len % b->dio_align)
            return false;
    return true;
}

static bool zero_copy_ok(const VirtioBlk *b, const struct iovec *iov, unsigned n, uint64_t pos)
{
    return n <= IOV_MAX && (!b->direct || dio_aligned(b, iov, n, pos));
}

/* Copies n bytes between buf and the iovecs, from off bytes into them. */
static void iov_copy(const struct iovec *iov, unsigned cnt, uint64_t off, uint8_t *buf, uint64_t n, bool to_iov)
{
    for (unsigned i = 0; i < cnt && n; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        uint64_t k = iov[i].iov_len - off < n ? iov[i].iov_len - off : n;
        uint8_t *p = (uint8_t *)iov[i].iov_base + off;
        if (to_iov)
            memcpy(p, buf, k);
        else
            memcpy(buf, p, k);
        buf += k;
        n -= k;
        off = 0;
    }
}

/* Bytes [done, len) of a read or write through the page-aligned bounce
 * buffer: for O_DIRECT with unaligned guest buffers, and to finish a
 * transfer the kernel cut short or refused. pread/pwrite only, which the
 * main thread may also do (a snapshot completes what is in flight). */
static int rw_bounce(VirtioBlk *b, bool in, const struct iovec *iov, unsigned n_iov, uint64_t pos, uint64_t len,
                     uint64_t done)
{
    while (done < len) {
        uint64_t n = len - done < BOUNCE_SIZE ? len - done : BOUNCE_SIZE;
        if (in) {
            int r = do_pread(b, b->bounce, n, pos + done);
            if (r < 0)
                return r;
            iov_copy(iov, n_iov, done, b->bounce, n, true);
        } else {
            iov_copy(iov, n_iov, done, b->bounce, n, false);
            int r = do_pwrite(b, b->bounce, n, pos + done);
            if (r < 0)
                return r;
        }
        done += n;
    }
    return 0;
}

/* A read or write done now: preadv/pwritev straight between the file and
 * guest RAM, or through the bounce buffer when O_DIRECT cannot take the
 * guest's buffers (a device with larger blocks refuses with EINVAL). */
static int rw_sync(VirtioBlk *b, bool in, const struct iovec *iov, unsigned n_iov, uint64_t pos, uint64_t len)
{
    uint64_t done = 0;
    if (len && zero_copy_ok(b, iov, n_iov, pos)) {
        ssize_t n;
        do
            n = in ? preadv(b->fd, iov, (int)n_iov, (off_t)pos) : pwritev(b->fd, iov, (int)n_iov, (off_t)pos);
        while (n < 0 && errno == EINTR);
        if (n < 0 && !(b->direct && errno == EINVAL))
            return -errno;
        if (n > 0)
            done = (uint64_t)n;
    }
    return rw_bounce(b, in, iov, n_iov, pos, len, done);
}

/* Takes a free request for the ring (blk_handle made sure there is one). */
static BlkReq *req_take(VirtioBlk *b, uint16_t q, uint16_t head, uint32_t type, uint8_t *status)
{
    BlkReq *r = &b->reqs[b->free_reqs[--b->n_free]];
    r->q = q;
    r->head = head;
    r->type = type;
    r->status = status;
    return r;
}

/* IN or OUT, already checked: 1 when queued on the ring, 0 when done now,
 * -EFAULT when a data buffer is not in guest RAM, another -errno when the
 * file failed. */
static int blk_rw(VirtioBlk *b, uint16_t q, const Virtqueue *vq, const VirtqChain *c, bool in, uint64_t pos,
                  uint64_t len, uint64_t status_at)
{
    BlkReq local = {0}, *r = &local;
    if (b->io && len)
        r = &b->reqs[b->free_reqs[b->n_free - 1]];
    int e = data_iov(vq, c, in, len, r);
    if (e < 0)
        return e == -ENOMEM ? -EIO : e;
    struct iovec st;
    if (r != &local && zero_copy_ok(b, r->iov, r->n_iov, pos) &&
        virtq_chain_iov(vq, c, true, status_at, 1, &st, 1) == 1) {
        req_take(b, q, c->head, in ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, st.iov_base);
        r->pos = pos;
        r->len = len;
        blk_io_queue(b->io, in ? BLK_IO_READ : BLK_IO_WRITE, r->iov, r->n_iov, pos, (uint64_t)(r - b->reqs));
        return 1;
    }
    e = rw_sync(b, in, r->iov, r->n_iov, pos, len);
    req_free_iov(r);
    return e == -EFAULT ? -EIO : e;
}

static int write_zeroes(VirtioBlk *b, uint64_t pos, uint64_t len, bool unmap)
{
    int mode =
        unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate(b->fd, mode, (off_t)pos, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
        return -errno;
    /* A file system without the fallocate mode: write the zeros. */
    memset(b->bounce, 0, BOUNCE_SIZE);
    for (uint64_t done = 0; done < len;) {
        uint64_t n = len - done < BOUNCE_SIZE ? len - done : BOUNCE_SIZE;
        int r = do_pwrite(b, b->bounce, n, pos + done);
        if (r < 0)
            return r;
        done += n;
    }
    return 0;
}

/* DISCARD and WRITE_ZEROES: one struct virtio_blk_discard_write_zeroes. */
static uint8_t blk_ranges(VirtioBlk *b, const Virtqueue *vq, const VirtqChain *c, uint32_t type)
{
    struct {
        uint64_t sector;
        uint32_t num_sectors;
        uint32_t flags;
    } seg;
    if (c->readable_len - HDR_SIZE != sizeof(seg) ||
        virtq_chain_read(vq, c, HDR_SIZE, &seg, sizeof(seg)) != (int64_t)sizeof(seg)) {
        count(b, &b->counters.request_errors, 1);
        return VIRTIO_BLK_S_IOERR;
    }
    bool discard = type == VIRTIO_BLK_T_DISCARD;
    /* Only WRITE_ZEROES has a flag (unmap, bit 0). */
    if (seg.flags & (discard ? ~0u : ~1u)) {
        count(b, &b->counters.unsupported, 1);
        return VIRTIO_BLK_S_UNSUPP;
    }
    if (b->readonly || seg.num_sectors > MAX_DISCARD_SECTORS || !range_ok(b, seg.sector, seg.num_sectors)) {
        count(b, &b->counters.request_errors, 1);
        return VIRTIO_BLK_S_IOERR;
    }
    uint64_t pos = seg.sector * VIRTIO_BLK_SECTOR, len = (uint64_t)seg.num_sectors * VIRTIO_BLK_SECTOR;
    if (len == 0)
        return VIRTIO_BLK_S_OK;
    if (discard) {
        count(b, &b->counters.discard_ops, 1);
        /* Discard is a hint: a file system that cannot punch holes keeps the data. */
        if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pos, (off_t)len) < 0 &&
            errno != EOPNOTSUPP && errno != ENOSYS) {
            count(b, &b->counters.io_errors, 1);
            return VIRTIO_BLK_S_IOERR;
        }
        return VIRTIO_BLK_S_OK;
    }
    count(b, &b->counters.write_zeroes_ops, 1);
    if (write_zeroes(b, pos, len, seg.flags & 1) < 0) {
        count(b, &b->counters.io_errors, 1);
        return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* One request chain: its used length, or VIRTIO_CHAIN_ASYNC when it went
 * to the ring (b->io; blk_handle made room). */
static uint32_t blk_request(VirtioBlk *b, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    struct {
        uint32_t type;
        uint32_t reserved;
        uint64_t sector;
    } hdr;
    /* Without a writable byte there is nowhere to put the status: the
     * chain goes back unanswered (used length 0). */
    if (c->writable_len == 0) {
        count(b, &b->counters.request_errors, 1);
        return 0;
    }
    uint64_t status_at = c->writable_len - 1;
    uint64_t in_len = status_at; /* writable bytes before the status */
    uint32_t used = 1;
    uint8_t status = VIRTIO_BLK_S_OK;

    if (c->readable_len < HDR_SIZE || virtq_chain_read(vq, c, 0, &hdr, sizeof(hdr)) != (int64_t)sizeof(hdr)) {
        count(b, &b->counters.request_errors, 1);
        status = VIRTIO_BLK_S_IOERR;
        goto out;
    }
    uint64_t out_len = c->readable_len - HDR_SIZE;

    switch (hdr.type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool in = hdr.type == VIRTIO_BLK_T_IN;
        uint64_t len = in ? in_len : out_len;
        if ((in ? out_len != 0 : b->readonly || in_len != 0) || len % VIRTIO_BLK_SECTOR ||
            !range_ok(b, hdr.sector, len / VIRTIO_BLK_SECTOR)) {
            count(b, &b->counters.request_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        int r = blk_rw(b, q, vq, c, in, hdr.sector * VIRTIO_BLK_SECTOR, len, status_at);
        if (r == 1)
            return VIRTIO_CHAIN_ASYNC;
        if (r < 0) {
            /* A buffer outside guest RAM is the request's fault, not the file's. */
            count(b, r == -EFAULT ? &b->counters.request_errors : &b->counters.io_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        if (in) {
            count(b, &b->counters.read_ops, 1);
            count(b, &b->counters.read_bytes, len);
            used += (uint32_t)(len > UINT32_MAX - 1 ? UINT32_MAX - 1 : len);
        } else {
            count(b, &b->counters.write_ops, 1);
            count(b, &b->counters.write_bytes, len);
        }
        break;
    }
    case VIRTIO_BLK_T_FLUSH: {
        count(b, &b->counters.flush_ops, 1);
        if (b->readonly)
            break;
        struct iovec st;
        if (b->io && virtq_chain_iov(vq, c, true, status_at, 1, &st, 1) == 1) {
            BlkReq *r = req_take(b, q, c->head, VIRTIO_BLK_T_FLUSH, st.iov_base);
            blk_io_queue(b->io, BLK_IO_FLUSH, NULL, 0, 0, (uint64_t)(r - b->reqs));
            return VIRTIO_CHAIN_ASYNC;
        }
        if (fdatasync(b->fd) < 0) {
            count(b, &b->counters.io_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
        }
        break;
    }
    case VIRTIO_BLK_T_GET_ID: {
        count(b, &b->counters.get_id_ops, 1);
        uint64_t n = in_len < VIRTIO_BLK_ID_BYTES ? in_len : VIRTIO_BLK_ID_BYTES;
        if (n && virtq_chain_write(vq, c, 0, b->serial, n) != (int64_t)n) {
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        used += (uint32_t)n;
        break;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        status = blk_ranges(b, vq, c, hdr.type);
        break;
    default:
        count(b, &b->counters.unsupported, 1);
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
out:
    if (status != VIRTIO_BLK_S_OK)
        used = 1;
    if (virtq_chain_write(vq, c, status_at, &status, 1) != 1)
        return 0;
    return used;
}

uint32_t virtio_blk_handle_request(VirtioBlk *b, const Virtqueue *vq, const VirtqChain *c)
{
    return blk_request(b, 0, vq, c);
}

/* A request the ring finished: its status, counters and used element,
 * pushed now, in completion order. */
static void blk_complete(void *ctx, uint64_t tag, int32_t res)
{
    VirtioBlk *b = ctx;
    BlkReq *r = &b->reqs[tag];
    if (!b->dropping) {
        bool in = r->type == VIRTIO_BLK_T_IN;
        uint8_t status = VIRTIO_BLK_S_OK;
        uint32_t used = 1;
        int e = res < 0 ? res : 0;
        if (r->type != VIRTIO_BLK_T_FLUSH) {
            /* Cut short (the file shrank, or a partial transfer), or refused
             * (O_DIRECT and the buffers, no resources now): what is left goes
             * through the bounce buffer, which tells the real error. */
            if (res >= 0 && (uint64_t)res < r->len)
                e = rw_bounce(b, in, r->iov, r->n_iov, r->pos, r->len, (uint64_t)res);
            else if (res == -EINVAL || res == -EAGAIN || res == -EINTR)
                e = rw_bounce(b, in, r->iov, r->n_iov, r->pos, r->len, 0);
        }
        if (e < 0) {
            count(b, &b->counters.io_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
        } else if (in) {
            count(b, &b->counters.read_ops, 1);
            count(b, &b->counters.read_bytes, r->len);
            used += (uint32_t)(r->len > UINT32_MAX - 1 ? UINT32_MAX - 1 : r->len);
        } else if (r->type == VIRTIO_BLK_T_OUT) {
            count(b, &b->counters.write_ops, 1);
            count(b, &b->counters.write_bytes, r->len);
        }
        *r->status = status;
        virtio_pci_complete(b->transport, r->q, r->head, used);
    }
    req_free_iov(r);
    b->free_reqs[b->n_free++] = (uint32_t)tag;
}

/* What a request costs the limiter: one op, plus the data of a read or a
 * write (the other requests move no guest data, as Cloud Hypervisor counts
 * them). A malformed request still costs its op. */
static uint64_t request_bytes(const Virtqueue *vq, const VirtqChain *c)
{
    uint32_t type;
    if (c->readable_len < HDR_SIZE ||
        virtq_chain_read(vq, c, 0, &type, sizeof(type)) != (int64_t)sizeof(type))
        return 0;
    if (type == VIRTIO_BLK_T_IN)
        return c->writable_len ? c->writable_len - 1 : 0;
    if (type == VIRTIO_BLK_T_OUT)
        return c->readable_len - HDR_SIZE;
    return 0;
}

static uint32_t blk_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    VirtioBlk *b = dev;
    /* Before the limiter: a request left in the ring must not have paid. */
    if (b->io && blk_io_full(b->io)) {
        b->full_queues |= 1ULL << q;
        return VIRTIO_CHAIN_DEFER;
    }
    if (b->limit.limiter && !rate_limiter_handle_admit(&b->limit, 1, request_bytes(vq, c))) {
        count(b, &b->counters.throttled, 1);
        b->waiting_queues |= 1ULL << q;
        return VIRTIO_CHAIN_DEFER;
    }
    return blk_request(b, q, vq, c);
}

/* The ring finished requests (its eventfd), or the limiter's timer fired:
 * the buckets should now hold what the waiting requests need. */
static void blk_host_event(void *dev)
{
    VirtioBlk *b = dev;
    if (b->io && blk_io_reap(b->io, blk_complete, b) && b->full_queues) {
        for (uint16_t q = 0; q < b->num_queues; q++)
            if (b->full_queues & (1ULL << q))
                virtio_pci_kick(b->transport, q);
        b->full_queues = 0;
    }
    if (!b->limit.limiter || !rate_limiter_handle_expired(&b->limit))
        return;
    for (uint16_t q = 0; q < b->num_queues; q++)
        if (b->waiting_queues & (1ULL << q))
            virtio_pci_kick(b->transport, q);
    b->waiting_queues = 0;
}

/* After the transport's last chain of a batch: the ring gets the whole
 * batch in one io_uring_enter. Nothing queued may wait past the device
 * lock (blk_io_drain counts on it). */
static void blk_queue_done(void *dev, uint16_t q)
{
    (void)q;
    VirtioBlk *b = dev;
    if (!b->io)
        return;
    int r = blk_io_submit(b->io);
    if (r < 0 && !b->submit_failed) {
        b->submit_failed = true;
        fprintf(stderr, "vmm: %s: io_uring submission failed: %s\n", virtio_pci_id(b->transport), strerror(-r));
    }
}

/* The driver reset the device: once status reads 0 it may reuse every
 * buffer, so what is in flight is waited for and forgotten. */
static void blk_reset(void *dev)
{
    VirtioBlk *b = dev;
    if (!b->io)
        return;
    b->dropping = true;
    blk_io_drain(b->io, blk_complete, b);
    b->dropping = false;
    b->full_queues = 0;
}

/* A snapshot: every request in flight completes before RAM is written. */
static void blk_quiesce(void *dev)
{
    VirtioBlk *b = dev;
    if (b->io)
        blk_io_drain(b->io, blk_complete, b);
}

/* Once per process: the disks still work, only slower. */
static void say_no_io_uring(int err)
{
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "vmm: virtio-blk: io_uring unavailable (%s); disks use synchronous I/O\n",
                strerror(-err));
}

/* The ring and its requests; without a usable io_uring the disk stays
 * synchronous. Here, on the main thread: the worker may not set rings up. */
static int setup_io(VirtioBlk *b)
{
    unsigned depth = (unsigned)b->num_queues * b->queue_size;
    if (depth > MAX_DEPTH)
        depth = MAX_DEPTH;
    int err = 0;
    b->io = blk_io_new(b->fd, depth, &err);
    if (!b->io) {
        say_no_io_uring(err);
        return 0;
    }
    b->reqs = calloc(depth, sizeof(*b->reqs));
    b->free_reqs = calloc(depth, sizeof(*b->free_reqs));
    if (!b->reqs || !b->free_reqs)
        return -ENOMEM;
    for (uint32_t i = 0; i < depth; i++)
        b->free_reqs[b->n_free++] = depth - 1 - i;
    return virtio_pci_watch_host(b->transport, blk_io_event_fd(b->io));
}

int virtio_blk_set_rate_limiter(VirtioBlk *b, RateLimiter *l, char *errbuf, size_t errlen)
{
    const char *id = b->transport ? virtio_pci_id(b->transport) : "disk";
    int r = rate_limiter_handle_init(&b->limit, l);
    if (r == 0 && b->transport)
        r = virtio_pci_watch_host(b->transport, b->limit.timer_fd);
    if (r < 0)
        snprintf(errbuf, errlen, "%s: rate limiter timer: %s", id, strerror(-r));
    return r;
}

VirtioBlk *virtio_blk_new(const DiskConfig *cfg, const char *id, const VirtioPciConfig *transport,
                          char *errbuf, size_t errlen)
{
    VirtioBlk *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        return NULL;
    }
    b->fd = -1;
    b->limit.timer_fd = -1;
    b->readonly = cfg->readonly;
    b->direct = cfg->direct;
    b->num_queues = (uint16_t)(cfg->num_queues ? cfg->num_queues : 1);
    b->queue_size = cfg->queue_size ? cfg->queue_size : 128;
    if (cfg->num_queues > VIRTIO_PCI_MAX_QUEUES || b->queue_size < 4) {
        snprintf(errbuf, errlen, "%s: num_queues must be 1-%d and queue_size at least 4", id,
                 VIRTIO_PCI_MAX_QUEUES);
        goto err;
    }
    int flags = (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (b->direct ? O_DIRECT : 0);
    b->fd = open_or_inherit(cfg->path, flags, 0);
    if (b->fd < 0) {
        snprintf(errbuf, errlen, "%s: cannot open %s%s: %s", id, cfg->path,
                 b->direct && errno == EINVAL ? " with O_DIRECT (direct=on)" : "", strerror(errno));
        goto err;
    }
    struct stat st;
    uint64_t size = 0;
    if (fstat(b->fd, &st) < 0) {
        snprintf(errbuf, errlen, "%s: stat %s: %s", id, cfg->path, strerror(errno));
        goto err;
    }
    /* Files on the common file systems take 512-byte aligned O_DIRECT;
     * a bigger block shows as EINVAL and goes through the bounce buffer. */
    b->dio_align = VIRTIO_BLK_SECTOR;
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(b->fd, BLKGETSIZE64, &size) < 0) {
            snprintf(errbuf, errlen, "%s: BLKGETSIZE64 %s: %s", id, cfg->path, strerror(errno));
            goto err;
        }
        int lbs;
        if (ioctl(b->fd, BLKSSZGET, &lbs) == 0 && lbs > VIRTIO_BLK_SECTOR)
            b->dio_align = (uint32_t)lbs;
    } else if (S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
    } else {
        snprintf(errbuf, errlen, "%s: %s is neither a regular file nor a block device", id, cfg->path);
        goto err;
    }
    /* A partial last sector is invisible to the guest. */
    b->capacity = size / VIRTIO_BLK_SECTOR;
    const char *serial = cfg->serial ? cfg->serial : id;
    /* Not NUL-terminated when it fills all 20 bytes, as the spec says. */
    size_t slen = strlen(serial);
    memcpy(b->serial, serial, slen < sizeof(b->serial) ? slen : sizeof(b->serial));
    if (posix_memalign((void **)&b->bounce, 4096, BOUNCE_SIZE) != 0) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        goto err;
    }
    b->ops = (VirtioDeviceOps){
        .type = VIRTIO_ID_BLOCK,
        .pci_class = 0x018000, /* mass storage, other */
        .features = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH,
        .config_size = 0x3c,
        .config_read = blk_config_read,
        .handle = blk_handle,
        .host_event = blk_host_event,
        .queue_done = blk_queue_done,
        .reset = blk_reset,
        .quiesce = blk_quiesce,
    };
    if (b->readonly)
        b->ops.features |= 1ULL << VIRTIO_BLK_F_RO;
    else
        b->ops.features |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
    if (b->num_queues > 1)
        b->ops.features |= 1ULL << VIRTIO_BLK_F_MQ;
    if (transport) {
        VirtioPciConfig tc = *transport;
        tc.id = id;
        tc.num_queues = b->num_queues;
        tc.queue_size = b->queue_size;
        b->transport = virtio_pci_new(&b->ops, b, &tc, errbuf, errlen);
        if (!b->transport)
            goto err;
        int r = cfg->disable_io_uring ? 0 : setup_io(b);
        if (r < 0) {
            snprintf(errbuf, errlen, "%s: asynchronous I/O: %s", id, strerror(-r));
            goto err;
        }
    }
    if (cfg->has_rate_limiter_config && rate_limiter_config_enabled(&cfg->rate_limiter_config)) {
        RateLimiter *l = rate_limiter_new(&cfg->rate_limiter_config);
        if (!l) {
            snprintf(errbuf, errlen, "%s: out of memory", id);
            goto err;
        }
        int r = virtio_blk_set_rate_limiter(b, l, errbuf, errlen);
        rate_limiter_unref(l);
        if (r < 0)
            goto err;
    }
    return b;

err:
    virtio_blk_free(b);
    return NULL;
}

int virtio_blk_attach(VirtioBlk *b, PciBus *bus, char *errbuf, size_t errlen)
{
    return virtio_pci_attach(b->transport, bus, errbuf, errlen);
}

void virtio_blk_free(VirtioBlk *b)
{
    if (!b)
        return;
    virtio_pci_free(b->transport); /* stops the worker before the file goes */
    if (b->io) {
        b->dropping = true;
        blk_io_drain(b->io, blk_complete, b);
    }
    blk_io_free(b->io);
    free(b->reqs);
    free(b->free_reqs);
    rate_limiter_handle_destroy(&b->limit);
    if (b->fd >= 0)
        close(b->fd);
    free(b->bounce);
    free(b);
}

VirtioPci *virtio_blk_transport(VirtioBlk *b)
{
    return b->transport;
}

uint64_t virtio_blk_capacity(const VirtioBlk *b)
{
    return b->capacity;
}

void virtio_blk_get_counters(const VirtioBlk *b, VirtioBlkCounters *out)
{
    const uint64_t *src = (const uint64_t *)&b->counters;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
