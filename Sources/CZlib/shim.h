// zlib, for reading gzip-compressed datasets (IDX .gz files).
#ifndef SPECTRAIN_CZLIB_SHIM_H
#define SPECTRAIN_CZLIB_SHIM_H
#include <zlib.h>
#endif
