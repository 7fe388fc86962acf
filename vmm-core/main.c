/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "vmm: not written yet\n");
    return 1;
}
