/* core/fileio.h — whole-file reads with a size limit, and atomic writes.
 *
 * Atomic write: the data goes to a temporary file in the destination's directory
 * (".NAME.tmp.XXXXXX"), which is flushed, fsync'ed and renamed over the destination, so a
 * reader never sees a half-written file and a failed write leaves the old file untouched.
 *
 * Only a regular file, or a path that does not exist yet, is written that way. A final
 * symlink is resolved first, so the link's target is replaced and the link itself stays. An
 * existing FIFO, character or block device is written straight into (opened O_WRONLY, no
 * temporary, no rename: /dev/null stays a device), and "-" is standard output (flushed on
 * commit, never closed). A directory is refused. A replaced regular file keeps its mode bits.
 */
#ifndef SL_CORE_FILEIO_H
#define SL_CORE_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    FILE *f;    /* write here between open and commit */
    char *tmp;  /* temporary path; NULL when writing straight into a FIFO/device/stdout */
    char *path; /* final path, symlinks resolved (NULL for stdout) */
} sl_afile;

int sl_afile_open(sl_afile *a, const char *path);
int sl_afile_commit(sl_afile *a); /* fflush + fsync + rename (direct: fflush + close); frees; SL_EIO on failure */
void sl_afile_abort(sl_afile *a); /* close + unlink the temporary; frees (direct writes cannot be undone) */

int sl_write_file_atomic(const char *path, const void *buf, size_t n);

/* Read a whole regular file into a malloc'ed buffer (NUL-terminated one past *n). Files larger
 * than max_bytes are refused with SL_EFORMAT. */
int sl_read_file(const char *path, size_t max_bytes, void **buf, size_t *n);

/* mkdir -p */
int sl_mkdirs(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
