// Non-variadic wrappers around the libvips calls Porter uses (Swift cannot call C variadic functions).
#pragma once
int cvips_init(const char *argv0);
