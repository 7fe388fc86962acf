/* SPDX-License-Identifier: Apache-2.0 */
/* Descriptor walking: virtq_pop over chains the fuzzer lays out (loops,
 * indirect tables, out-of-RAM addresses, huge lengths), then reads and
 * writes through every chain it accepts, and pushes it back. */
#include "fuzz_guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fg_init_once();
    Virtqueue vq;
    if (fg_setup_queue(&vq, data, size) < 0)
        return 0;
    static uint8_t buf[0x3000];
    /* More pops than a ring can hold: a wrapping avail index is tried too. */
    for (int i = 0; i < 600; i++) {
        VirtqChain c;
        VirtqPop p = virtq_pop(&vq, &c);
        if (p != VIRTQ_CHAIN)
            break;
        uint64_t r = c.readable_len < sizeof(buf) ? c.readable_len : sizeof(buf);
        virtq_chain_read(&vq, &c, 0, buf, r);
        virtq_chain_read(&vq, &c, c.readable_len / 2, buf, sizeof(buf));
        uint64_t w = c.writable_len < sizeof(buf) ? c.writable_len : sizeof(buf);
        virtq_chain_write(&vq, &c, 0, buf, w);
        virtq_chain_write(&vq, &c, c.writable_len, buf, 1);
        if (virtq_push(&vq, c.head, (uint32_t)w) < 0)
            break;
        virtq_should_notify(&vq);
    }
    virtq_update_avail_event(&vq);
    virtq_has_work(&vq);
    virtq_free(&vq);
    return 0;
}
