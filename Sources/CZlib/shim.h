// zlib: gzip decoding for IDX datasets and deflate for PNG output.
#include <zlib.h>
