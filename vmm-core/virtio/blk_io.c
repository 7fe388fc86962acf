/* SPDX-License-Identifier: Apache-2.0 */
#include "blk_io.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct BlkIo {
    struct io_uring ring;
    int event_fd;
    unsigned depth;
    unsigned in_flight; /* queued + submitted, not reaped */
};

static int restrict_and_enable(BlkIo *io, int fd)
{
    static const struct io_uring_restriction allowed[] = {
        {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV},
        {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV},
        {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FSYNC},
        {.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_IO_DRAIN},
        {.opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED, .sqe_flags = IOSQE_FIXED_FILE},
    };
    int r = io_uring_register_files(&io->ring, &fd, 1);
    if (r == 0)
        r = io_uring_register_eventfd(&io->ring, io->event_fd);
    /* Debian 12's liburing 2.3 declares but does not export the helpers
     * for these two: the raw syscall. */
    if (r == 0 && syscall(__NR_io_uring_register, io->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, allowed,
                          sizeof(allowed) / sizeof(allowed[0])) < 0)
        r = -errno;
    if (r == 0 && syscall(__NR_io_uring_register, io->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        r = -errno;
    return r;
}

BlkIo *blk_io_new(int fd, unsigned depth, int *err)
{
    BlkIo *io = calloc(1, sizeof(*io));
    if (!io) {
        *err = -ENOMEM;
        return NULL;
    }
    io->depth = depth;
    io->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (io->event_fd < 0) {
        *err = -errno;
        free(io);
        return NULL;
    }
    /* Disabled until restricted: nothing can be submitted to a ring that
     * could still do more than disk I/O. The completion ring (2 x depth by
     * default) always has room for every operation in flight, so nothing
     * ever overflows into the kernel's backlog, which only an
     * io_uring_enter would flush. */
    struct io_uring_params p = {.flags = IORING_SETUP_R_DISABLED};
    int r = io_uring_queue_init_params(depth, &io->ring, &p);
    if (r < 0) {
        *err = r;
        close(io->event_fd);
        free(io);
        return NULL;
    }
    r = restrict_and_enable(io, fd);
    if (r < 0) {
        *err = r;
        io_uring_queue_exit(&io->ring);
        close(io->event_fd);
        free(io);
        return NULL;
    }
    return io;
}

static void ignore_completion(void *ctx, uint64_t tag, int32_t res)
{
    (void)ctx;
    (void)tag;
    (void)res;
}

void blk_io_free(BlkIo *io)
{
    if (!io)
        return;
    /* The kernel would cancel on close, but a read still in flight could
     * land in guest RAM after the caller let it go. */
    blk_io_drain(io, ignore_completion, NULL);
    io_uring_queue_exit(&io->ring);
    close(io->event_fd);
    free(io);
}

int blk_io_event_fd(const BlkIo *io)
{
    return io->event_fd;
}

unsigned blk_io_in_flight(const BlkIo *io)
{
    return io->in_flight;
}

bool blk_io_full(const BlkIo *io)
{
    return io->in_flight >= io->depth;
}

void blk_io_queue(BlkIo *io, BlkIoOp op, const struct iovec *iov, unsigned n_iov, uint64_t pos, uint64_t tag)
{
    /* in_flight < depth = SQ entries: there is always a free entry. */
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    switch (op) {
    case BLK_IO_READ:
        io_uring_prep_readv(sqe, 0, iov, n_iov, pos);
        break;
    case BLK_IO_WRITE:
        io_uring_prep_writev(sqe, 0, iov, n_iov, pos);
        break;
    case BLK_IO_FLUSH:
        io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
        /* A flush covers the writes before it: it starts when they are done. */
        sqe->flags |= IOSQE_IO_DRAIN;
        break;
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, tag);
    io->in_flight++;
}

int blk_io_submit(BlkIo *io)
{
    /* EAGAIN (no memory for requests right now) and EBUSY pass; the ring
     * is sized so that the completion side never backs up. */
    const struct timespec pause = {.tv_nsec = 50000};
    if (!io_uring_sq_ready(&io->ring))
        return 0;
    for (;;) {
        int r = io_uring_submit(&io->ring);
        if (r >= 0)
            return 0;
        if (r != -EINTR && r != -EAGAIN && r != -EBUSY)
            return r;
        nanosleep(&pause, NULL);
    }
}

unsigned blk_io_reap(BlkIo *io, BlkIoDone done, void *ctx)
{
    uint64_t v;
    /* Cleared first: a completion posted after this read signals again. */
    if (read(io->event_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing was signalled since the last reap */
    }
    unsigned n = 0;
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
        uint64_t tag = io_uring_cqe_get_data64(cqe);
        int32_t res = cqe->res;
        io_uring_cqe_seen(&io->ring, cqe);
        io->in_flight--;
        n++;
        done(ctx, tag, res);
    }
    return n;
}

void blk_io_drain(BlkIo *io, BlkIoDone done, void *ctx)
{
    /* The operations finish by themselves (completions posted by the
     * kernel's workers, or by task work that interrupts the submitting
     * worker wherever it waits), so polling the completion ring is enough;
     * this runs only on reset, snapshot and teardown. */
    const struct timespec pause = {.tv_nsec = 20000};
    for (;;) {
        blk_io_reap(io, done, ctx);
        /* What a failed blk_io_submit() left queued never started. */
        if (io->in_flight <= io_uring_sq_ready(&io->ring))
            return;
        nanosleep(&pause, NULL);
    }
}
