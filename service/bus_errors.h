/* SPDX-License-Identifier: Apache-2.0 */
/* The org.vmm.Error.* names (docs/service.md lists when each is returned). */
#pragma once

#define VMM_ERROR_INVALID_CONFIG "org.vmm.Error.InvalidConfig"
#define VMM_ERROR_NOT_FOUND      "org.vmm.Error.NotFound"
#define VMM_ERROR_ALREADY_EXISTS "org.vmm.Error.AlreadyExists"
#define VMM_ERROR_INVALID_STATE  "org.vmm.Error.InvalidState"
#define VMM_ERROR_VMM_FAILED     "org.vmm.Error.VmmFailed"
#define VMM_ERROR_NOT_SUPPORTED  "org.vmm.Error.NotSupported"
#define VMM_ERROR_LIMIT_EXCEEDED "org.vmm.Error.LimitExceeded"
