/* SPDX-License-Identifier: Apache-2.0 */
#include "virtqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct VirtqDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VirtqDesc;

static bool read_u16(const Virtqueue *vq, uint64_t gpa, uint16_t *v)
{
    /* Ring fields are 2-byte aligned (checked at activation), so a volatile
     * load is single-copy atomic against the guest's stores. */
    const volatile uint16_t *p = guest_memory_ptr(vq->mem, gpa, 2);
    if (!p)
        return false;
    *v = *p;
    return true;
}

static bool write_u16(const Virtqueue *vq, uint64_t gpa, uint16_t v)
{
    volatile uint16_t *p = guest_memory_ptr(vq->mem, gpa, 2);
    if (!p)
        return false;
    *p = v;
    return true;
}

static int refuse(Virtqueue *vq, const char *why)
{
    vq->error = why;
    return -EINVAL;
}

int virtq_activate(Virtqueue *vq, const GuestMemory *mem, bool event_idx, bool indirect)
{
    vq->mem = mem;
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    vq->last_avail = vq->used_idx = vq->signalled_used = 0;
    vq->signalled_valid = false;
    uint64_t n = vq->size;
    if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
        return refuse(vq, "queue size is not a power of two up to 32768");
    if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3))
        return refuse(vq, "misaligned ring address");
    if (!guest_memory_range_ok(mem, vq->desc, 16 * n))
        return refuse(vq, "descriptor table outside guest RAM");
    if (!guest_memory_range_ok(mem, vq->avail, 6 + 2 * n))
        return refuse(vq, "available ring outside guest RAM");
    if (!guest_memory_range_ok(mem, vq->used, 6 + 8 * n))
        return refuse(vq, "used ring outside guest RAM");
    free(vq->bufs);
    vq->bufs = calloc(n, sizeof(*vq->bufs));
    if (!vq->bufs)
        return refuse(vq, "out of memory");
    return 0;
}

void virtq_reset(Virtqueue *vq, uint16_t max_size)
{
    VirtqBuf *bufs = vq->bufs;
    uint64_t broken = vq->broken;
    memset(vq, 0, sizeof(*vq));
    vq->bufs = bufs;
    vq->broken = broken;
    vq->size = max_size;
    vq->msix_vector = 0xffff;
}

void virtq_free(Virtqueue *vq)
{
    free(vq->bufs);
    vq->bufs = NULL;
}

bool virtq_has_work(Virtqueue *vq)
{
    uint16_t idx;
    return read_u16(vq, vq->avail + 2, &idx) && idx != vq->last_avail;
}

static VirtqPop broken(Virtqueue *vq, const char *why)
{
    vq->error = why;
    vq->broken++;
    return VIRTQ_BROKEN;
}

VirtqPop virtq_pop(Virtqueue *vq, VirtqChain *c)
{
    uint16_t avail_idx;
    if (!vq->bufs)
        return broken(vq, "queue not activated");
    if (!read_u16(vq, vq->avail + 2, &avail_idx))
        return broken(vq, "available ring unreadable");
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return VIRTQ_EMPTY;
    if (pending > vq->size)
        return broken(vq, "avail->idx moved more than the queue size");
    /* The ring entry and descriptors are read after the index. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);

    uint16_t head;
    if (!read_u16(vq, vq->avail + 4 + 2ULL * (vq->last_avail % vq->size), &head))
        return broken(vq, "available ring unreadable");
    if (head >= vq->size)
        return broken(vq, "head descriptor index past the table");

    memset(c, 0, sizeof(*c));
    c->head = head;
    c->bufs = vq->bufs;
    uint64_t table = vq->desc;
    uint32_t table_size = vq->size, idx = head, budget = vq->size;
    bool in_indirect = false, seen_writable = false;

    for (;;) {
        VirtqDesc d;
        if (budget == 0)
            return broken(vq, "descriptor chain longer than the queue (or a loop)");
        budget--;
        if (guest_memory_read(vq->mem, table + 16ULL * idx, &d, sizeof(d)) < 0)
            return broken(vq, "descriptor unreadable");

        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect)
                return broken(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
            if (in_indirect)
                return broken(vq, "nested indirect table");
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return broken(vq, "indirect descriptor with NEXT");
            if (d.len == 0 || d.len % 16)
                return broken(vq, "indirect table length not a non-zero multiple of 16");
            if (d.len / 16 > vq->size)
                return broken(vq, "indirect table larger than the queue");
            if (!guest_memory_range_ok(vq->mem, d.addr, d.len))
                return broken(vq, "indirect table outside guest RAM");
            /* The indirect descriptor must be the chain's only one. */
            if (c->n_bufs != 0)
                return broken(vq, "indirect descriptor after buffers");
            table = d.addr;
            table_size = d.len / 16;
            idx = 0;
            in_indirect = true;
            budget = table_size;
            continue;
        }

        bool w = d.flags & VIRTQ_DESC_F_WRITE;
        if (!w && seen_writable)
            return broken(vq, "device-readable buffer after a device-writable one");
        if (d.len > 0) {
            if (!guest_memory_range_ok(vq->mem, d.addr, d.len))
                return broken(vq, "buffer outside guest RAM");
            if (c->n_bufs >= vq->size)
                return broken(vq, "descriptor chain longer than the queue");
            c->bufs[c->n_bufs++] = (VirtqBuf){.addr = d.addr, .len = d.len, .writable = w};
            if (w)
                c->writable_len += d.len;
            else {
                c->readable_len += d.len;
                c->n_readable = c->n_bufs;
            }
        }
        seen_writable |= w;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= table_size)
            return broken(vq, "next descriptor index past the table");
        idx = d.next;
    }
    vq->last_avail++;
    return VIRTQ_CHAIN;
}

void virtq_unpop(Virtqueue *vq)
{
    vq->last_avail--;
}

int virtq_push(Virtqueue *vq, uint16_t head, uint32_t len)
{
    struct {
        uint32_t id, len;
    } elem = {head, len};
    uint64_t slot = vq->used + 4 + 8ULL * (vq->used_idx % vq->size);
    if (guest_memory_write(vq->mem, slot, &elem, sizeof(elem)) < 0)
        return -EFAULT;
    /* The element must be visible before the index that publishes it. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    vq->used_idx++;
    if (!write_u16(vq, vq->used + 2, vq->used_idx))
        return -EFAULT;
    return 0;
}

void virtq_update_avail_event(Virtqueue *vq)
{
    if (vq->event_idx)
        write_u16(vq, vq->used + 4 + 8ULL * vq->size, vq->last_avail);
    /* Order the avail_event store before re-reading avail->idx. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool virtq_should_notify(Virtqueue *vq)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    bool valid = vq->signalled_valid;
    vq->signalled_used = now;
    vq->signalled_valid = true;
    if (vq->event_idx) {
        uint16_t used_event;
        if (!read_u16(vq, vq->avail + 4 + 2ULL * vq->size, &used_event))
            return true;
        /* virtio 1.2, 2.7.7.2: interrupt when used_event was crossed. */
        return !valid || (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
    }
    uint16_t flags;
    if (!read_u16(vq, vq->avail, &flags))
        return true;
    return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

static int64_t chain_copy(const Virtqueue *vq, const VirtqChain *c, bool writable, uint64_t offset, void *buf,
                          uint64_t len, bool to_guest)
{
    uint32_t first = writable ? c->n_readable : 0, end = writable ? c->n_bufs : c->n_readable;
    uint64_t done = 0;
    for (uint32_t i = first; i < end && done < len; i++) {
        const VirtqBuf *b = &c->bufs[i];
        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        uint64_t n = b->len - offset;
        if (n > len - done)
            n = len - done;
        int r = to_guest ? guest_memory_write(vq->mem, b->addr + offset, (const uint8_t *)buf + done, n)
                         : guest_memory_read(vq->mem, b->addr + offset, (uint8_t *)buf + done, n);
        if (r < 0)
            return -EFAULT;
        done += n;
        offset = 0;
    }
    return (int64_t)done;
}

int64_t virtq_chain_read(const Virtqueue *vq, const VirtqChain *c, uint64_t offset, void *buf, uint64_t len)
{
    return chain_copy(vq, c, false, offset, buf, len, false);
}

int64_t virtq_chain_write(const Virtqueue *vq, const VirtqChain *c, uint64_t offset, const void *buf,
                          uint64_t len)
{
    return chain_copy(vq, c, true, offset, (void *)buf, len, true);
}

int virtq_chain_iov(const Virtqueue *vq, const VirtqChain *c, bool writable, uint64_t offset, uint64_t len,
                    struct iovec *iov, uint32_t max)
{
    uint32_t first = writable ? c->n_readable : 0, end = writable ? c->n_bufs : c->n_readable, n = 0;
    uint64_t done = 0;
    for (uint32_t i = first; i < end && done < len; i++) {
        const VirtqBuf *b = &c->bufs[i];
        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        uint64_t piece = b->len - offset;
        if (piece > len - done)
            piece = len - done;
        if (n == max)
            return -E2BIG;
        void *p = guest_memory_ptr(vq->mem, b->addr + offset, piece);
        if (!p)
            return -EFAULT;
        iov[n++] = (struct iovec){.iov_base = p, .iov_len = piece};
        done += piece;
        offset = 0;
    }
    return done == len ? (int)n : -EFAULT;
}
