/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk requests: headers, sectors, lengths and the status byte's
 * place all come from the fuzzer; the image is a 64 KiB scratch file. */
#include <unistd.h>

#include "blk.h"
#include "fuzz_guest.h"

static VirtioBlk *blk;

static void blk_init_once(void)
{
    if (blk)
        return;
    char path[] = "/tmp/vmm-fuzz-blk-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 65536) < 0)
        abort();
    close(fd);
    DiskConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.num_queues = 1;
    cfg.queue_size = 256;
    cfg.serial = (char *)"fuzz-serial";
    char err[256];
    blk = virtio_blk_new(&cfg, "_disk0", NULL, err, sizeof(err));
    /* The open fd keeps the image; the name can go now. */
    unlink(path);
    if (!blk) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fg_init_once();
    blk_init_once();
    Virtqueue vq;
    if (fg_setup_queue(&vq, data, size) < 0)
        return 0;
    for (int i = 0; i < 64; i++) {
        VirtqChain c;
        if (virtq_pop(&vq, &c) != VIRTQ_CHAIN)
            break;
        uint32_t len = virtio_blk_handle_request(blk, &vq, &c);
        if (virtq_push(&vq, c.head, len) < 0)
            break;
    }
    virtq_free(&vq);
    return 0;
}
