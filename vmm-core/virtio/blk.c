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
#include <sys/stat.h>
#include <unistd.h>

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
};

static void count(const VirtioBlk *b, const uint64_t *field, uint64_t n)
{
    (void)b;
    __atomic_fetch_add((uint64_t *)field, n, __ATOMIC_RELAXED);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
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

static int blk_in(VirtioBlk *b, const Virtqueue *vq, const VirtqChain *c, uint64_t pos, uint64_t len)
{
    for (uint64_t done = 0; done < len;) {
        uint64_t n = len - done < BOUNCE_SIZE ? len - done : BOUNCE_SIZE;
        int r = do_pread(b, b->bounce, n, pos + done);
        if (r < 0)
            return r;
        if (virtq_chain_write(vq, c, done, b->bounce, n) != (int64_t)n)
            return -EFAULT;
        done += n;
    }
    return 0;
}

static int blk_out(VirtioBlk *b, const Virtqueue *vq, const VirtqChain *c, uint64_t pos, uint64_t len)
{
    for (uint64_t done = 0; done < len;) {
        uint64_t n = len - done < BOUNCE_SIZE ? len - done : BOUNCE_SIZE;
        if (virtq_chain_read(vq, c, HDR_SIZE + done, b->bounce, n) != (int64_t)n)
            return -EFAULT;
        int r = do_pwrite(b, b->bounce, n, pos + done);
        if (r < 0)
            return r;
        done += n;
    }
    return 0;
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

uint32_t virtio_blk_handle_request(VirtioBlk *b, const Virtqueue *vq, const VirtqChain *c)
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
        if (out_len != 0 || in_len % VIRTIO_BLK_SECTOR ||
            !range_ok(b, hdr.sector, in_len / VIRTIO_BLK_SECTOR)) {
            count(b, &b->counters.request_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        if (blk_in(b, vq, c, hdr.sector * VIRTIO_BLK_SECTOR, in_len) < 0) {
            count(b, &b->counters.io_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        count(b, &b->counters.read_ops, 1);
        count(b, &b->counters.read_bytes, in_len);
        used += (uint32_t)(in_len > UINT32_MAX - 1 ? UINT32_MAX - 1 : in_len);
        break;
    case VIRTIO_BLK_T_OUT:
        if (b->readonly || in_len != 0 || out_len % VIRTIO_BLK_SECTOR ||
            !range_ok(b, hdr.sector, out_len / VIRTIO_BLK_SECTOR)) {
            count(b, &b->counters.request_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        if (blk_out(b, vq, c, hdr.sector * VIRTIO_BLK_SECTOR, out_len) < 0) {
            count(b, &b->counters.io_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
            break;
        }
        count(b, &b->counters.write_ops, 1);
        count(b, &b->counters.write_bytes, out_len);
        break;
    case VIRTIO_BLK_T_FLUSH:
        count(b, &b->counters.flush_ops, 1);
        if (!b->readonly && fdatasync(b->fd) < 0) {
            count(b, &b->counters.io_errors, 1);
            status = VIRTIO_BLK_S_IOERR;
        }
        break;
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

static uint32_t blk_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    (void)q;
    return virtio_blk_handle_request(dev, vq, c);
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
    b->fd = open(cfg->path, flags);
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
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(b->fd, BLKGETSIZE64, &size) < 0) {
            snprintf(errbuf, errlen, "%s: BLKGETSIZE64 %s: %s", id, cfg->path, strerror(errno));
            goto err;
        }
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
