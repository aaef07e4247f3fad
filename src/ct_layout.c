/*
 * ct_layout.c - the size bounds of a CrysTens (the rest of the layout is
 * inline in ct_layout.h).
 */
#include "ct_layout.h"

int ct_layout_check_size(int S, const char *what, ct_error *err)
{
    if (S <= CT_CRYSTENS_HEADER || S > CT_CRYSTENS_MAX_SIZE)
        return ct_fail(err, CT_EINVAL, "%s must be %d to %d, got %d", what,
                       CT_CRYSTENS_HEADER + 1, CT_CRYSTENS_MAX_SIZE, S);
    return CT_OK;
}
