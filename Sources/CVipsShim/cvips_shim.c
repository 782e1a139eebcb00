#include <vips/vips.h>
#include "cvips_shim.h"

int cvips_init(const char *argv0) { return VIPS_INIT(argv0); }
