/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XEN_ELFNOTE_PHYS32_ENTRY: its presence is what makes a loader take the PVH
 * path (32-bit entry, start_info in %ebx). Linked only into the PVH flavour.
 * The descriptor is 8 bytes like Linux's vmlinux, so a loader that handles
 * Linux handles us; 4-byte alignment because ELF notes use it (a loader that
 * aligns by the segment's p_align then agrees on where the descriptor is).
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

    .section .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f                 /* namesz */
    .long 4f - 3f                 /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
1:  .asciz "Xen"
2:  .balign 4
3:  .quad pvh_start32
4:  .balign 4

    .section .note.GNU-stack, "", @progbits
