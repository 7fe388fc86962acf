/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Little-endian loads and stores on byte buffers: config spaces, registers
 * and the snapshot format are little-endian whatever the host, and guest
 * bytes need not be aligned.
 */
#ifndef VMM_UTIL_LE_H
#define VMM_UTIL_LE_H

#include <stdint.h>

/* The low `bytes` (1-8) bytes of v at p. */
static inline void le_store(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_load(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void put16(uint8_t *p, uint16_t v)
{
    le_store(p, v, 2);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    le_store(p, v, 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
    le_store(p, v, 8);
}

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)le_load(p, 2);
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)le_load(p, 4);
}

#endif
