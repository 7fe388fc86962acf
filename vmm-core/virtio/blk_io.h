/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk's asynchronous I/O: one io_uring per disk, so the worker hands
 * every request of a batch to the kernel at once and completes each as it
 * finishes, instead of one blocking pread/pwrite after the other.
 *
 * The ring is made at device creation (on the main thread, before any
 * seccomp filter): io_uring_setup and io_uring_register happen there only,
 * the worker needs io_uring_enter alone. Requests run in the kernel where
 * seccomp cannot see them, so the ring is restricted before it is enabled
 * (IORING_REGISTER_RESTRICTIONS): readv, writev and fsync only, only on the
 * disk's file (registered as fixed file 0, IOSQE_FIXED_FILE required), and
 * no further io_uring_register of any kind.
 *
 * Completions are announced on an eventfd the worker watches; reaping reads
 * the shared completion ring, and blk_io_drain() waits without any io_uring
 * syscall, so a vCPU resetting the device can wait for what is in flight.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct BlkIo BlkIo;

typedef enum BlkIoOp {
    BLK_IO_READ,
    BLK_IO_WRITE,
    BLK_IO_FLUSH, /* fdatasync, started only after everything queued before it finished */
} BlkIoOp;

/* Called for each finished operation: its tag and the kernel's result
 * (bytes moved, or -errno). */
typedef void (*BlkIoDone)(void *ctx, uint64_t tag, int32_t res);

/* A ring for fd with room for depth operations in flight. NULL with
 * -errno in *err when the host offers no usable io_uring (old kernel,
 * kernel.io_uring_disabled, a seccomp filter, RLIMIT_MEMLOCK). */
BlkIo *blk_io_new(int fd, unsigned depth, int *err);
/* Waits for what is in flight (done is not called), then closes the ring. */
void blk_io_free(BlkIo *io);
/* Readable when completions are waiting to be reaped. */
int blk_io_event_fd(const BlkIo *io);
/* Operations queued or in the kernel and not yet reaped. */
unsigned blk_io_in_flight(const BlkIo *io);
bool blk_io_full(const BlkIo *io);
/* Queues one operation (not full): iov must stay valid until its
 * completion. Nothing reaches the kernel before blk_io_submit(). */
void blk_io_queue(BlkIo *io, BlkIoOp op, const struct iovec *iov, unsigned n_iov, uint64_t pos,
                  uint64_t tag);
/* Hands everything queued to the kernel; -errno when it would not take it
 * (what was not taken stays queued for the next call). */
int blk_io_submit(BlkIo *io);
/* Calls done for every finished operation; returns how many. */
unsigned blk_io_reap(BlkIo *io, BlkIoDone done, void *ctx);
/* Until nothing submitted is in flight, calling done for each completion.
 * Needs no io_uring syscall: any thread may call it. */
void blk_io_drain(BlkIo *io, BlkIoDone done, void *ctx);
