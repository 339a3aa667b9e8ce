/* core/fileio.h — whole-file reads with a size limit, and atomic writes.
 *
 * Atomic write: the data goes to a temporary file in the destination's directory
 * (".NAME.tmp.XXXXXX"), which is flushed, fsync'ed and renamed over the destination, so a
 * reader never sees a half-written file and a failed write leaves the old file untouched.
 */
#ifndef SL_CORE_FILEIO_H
#define SL_CORE_FILEIO_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;        /* write here between open and commit */
    char *tmp;      /* temporary path */
    char *path;     /* final path */
} sl_afile;

int sl_afile_open(sl_afile *a, const char *path);
int sl_afile_commit(sl_afile *a);   /* fflush + fsync + rename; frees; SL_EIO on failure */
void sl_afile_abort(sl_afile *a);   /* close + unlink the temporary; frees */

int sl_write_file_atomic(const char *path, const void *buf, size_t n);

/* Read a whole regular file into a malloc'ed buffer (NUL-terminated one past *n). Files larger
 * than max_bytes are refused with SL_EFORMAT. */
int sl_read_file(const char *path, size_t max_bytes, void **buf, size_t *n);

/* mkdir -p */
int sl_mkdirs(const char *dir);

#endif
