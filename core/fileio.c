/* core/fileio.c — whole-file reads with a size limit, atomic writes, mkdir -p (see fileio.h).
 *
 * Atomic write protocol (what makes a crash or a failed write harmless):
 *   1. create ".NAME.tmp.XXXXXX" in the destination's own directory (rename(2) is only atomic
 *      within one file system, and the same directory guarantees that);
 *   2. write, fflush, fsync (the data is on disk before the name points at it);
 *   3. rename over the destination (readers see the old file or the new one, never a mix);
 *   4. fsync the directory, best effort (makes the rename itself durable).
 * Any failure unlinks the temporary, so the old file stays as it was and no debris is left.
 */
#include "core/fileio.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Split path into a malloc'ed directory part ("." if none) and a pointer to the base name. */
static char *dir_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *base = path;
        return strdup(".");
    }
    *base = slash + 1;
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* The file that writing to `path` would reach: a final symlink is followed (relative links
 * resolve against the link's own directory), so the rename replaces the link's target and the
 * link survives. Returns a malloc'ed path, or NULL with the message set. Directories along the
 * way need no resolving: rename(2) works within whichever directory they lead to. */
static char *resolve_links(const char *path)
{
    char *p = strdup(path);
    for (int depth = 0; p; depth++) {
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode)) return p; /* absent or not a link */
        if (depth == 40) {
            free(p);
            sl_error(SL_EIO, "cannot write '%s': too many levels of symbolic links", path);
            return NULL;
        }
        char target[4096];
        ssize_t n = readlink(p, target, sizeof target - 1);
        if (n < 0) {
            int err = errno;
            free(p);
            sl_error(SL_EIO, "cannot write '%s': readlink: %s", path, strerror(err));
            return NULL;
        }
        target[n] = '\0';
        char *next;
        if (target[0] == '/') {
            next = strdup(target);
        } else {
            const char *base;
            char *dir = dir_of(p, &base);
            next = dir ? malloc(strlen(dir) + (size_t)n + 2) : NULL;
            if (next) sprintf(next, "%s/%s", dir, target);
            free(dir);
        }
        free(p);
        p = next;
    }
    sl_error(SL_ENOMEM, "out of memory opening '%s'", path);
    return NULL;
}

/* Write straight into an existing FIFO, device or socket (no temporary, no rename). */
static int open_direct(sl_afile *a, const char *path, char *final)
{
    int fd;
    do fd = open(final, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        free(final);
        return sl_error(SL_EIO, "cannot open '%s' for writing: %s", path, strerror(err));
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int err = errno;
        close(fd);
        free(final);
        return sl_error(SL_EIO, "cannot open '%s' for writing: %s", path, strerror(err));
    }
    a->f = f;
    a->path = final;
    return SL_OK;
}

int sl_afile_open(sl_afile *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (!path || !*path) return sl_error(SL_EINVAL, "atomic write: empty path");
    if (!strcmp(path, "-")) { /* standard output: written through, never renamed or closed */
        a->f = stdout;
        return SL_OK;
    }
    const char *base;
    char *final = resolve_links(path);
    if (!final) return SL_EIO;
    /* Only a regular file, or a path that does not exist yet, is replaced by rename. A FIFO
     * or a device (/dev/null, a terminal) is written into as it is: replacing it with a
     * regular file would break every other program that uses it. */
    struct stat st;
    int exists = stat(final, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        free(final);
        return sl_error(SL_EINVAL, "cannot write '%s': it is a directory", path);
    }
    if (exists && !S_ISREG(st.st_mode)) return open_direct(a, path, final);
    char *dir = dir_of(final, &base);
    if (!dir) {
        free(final);
        return sl_error(SL_ENOMEM, "out of memory opening '%s'", path);
    }
    if (!*base) {
        free(dir);
        free(final);
        return sl_error(SL_EINVAL, "cannot write '%s': path names a directory", path);
    }
    size_t cap = strlen(dir) + strlen(base) + 32;
    char *tmp = malloc(cap);
    if (!tmp) {
        free(dir);
        free(final);
        return sl_error(SL_ENOMEM, "out of memory opening '%s'", path);
    }
    /* Our own O_EXCL loop instead of mkstemp: open(..., 0666) lets the umask decide the
     * permissions, as for any ordinary file, where mkstemp would force 0600. The suffix mixes
     * pid, clock and attempt so concurrent writers of the same file do not collide. */
    int fd = -1, err = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)a;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; attempt++) {
        char suffix[7];
        uint64_t x = seed + (uint64_t)attempt * 0x9E3779B97F4A7C15ull;
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 29; /* splitmix-style scramble */
        for (int k = 0; k < 6; k++) {
            suffix[k] = alnum[x % 62];
            x /= 62;
        }
        suffix[6] = '\0';
        snprintf(tmp, cap, "%s/.%s.tmp.%s", dir, base, suffix);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) break;
    }
    err = errno;
    free(dir);
    if (fd < 0) {
        free(tmp);
        free(final);
        return sl_error(SL_EIO, "cannot create a temporary file next to '%s': %s", path, strerror(err));
    }
    /* a replaced file keeps its permission bits (best effort: the owner may differ) */
    if (exists) (void)fchmod(fd, st.st_mode & 07777);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        err = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        free(final);
        return sl_error(SL_EIO, "cannot open temporary file for '%s': %s", path, strerror(err));
    }
    a->f = f;
    a->tmp = tmp;
    a->path = final;
    return SL_OK;
}

void sl_afile_abort(sl_afile *a)
{
    if (a->f == stdout) fflush(stdout);
    else if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
}

/* fsync the directory holding path so the rename survives a crash. Some file systems refuse
 * fsync on directories (EINVAL); the data itself is already safe, so errors are ignored. */
static void sync_dir_of(const char *path)
{
    const char *base;
    char *dir = dir_of(path, &base);
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Standard output or a FIFO/device: flush (and close what we opened); nothing to rename. */
static int commit_direct(sl_afile *a)
{
    const char *name = a->path ? a->path : "standard output";
    int err = 0, bad = fflush(a->f) != 0 || ferror(a->f);
    if (bad) err = errno;
    if (a->f != stdout && fclose(a->f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    int rc = bad ? sl_error(SL_EIO, "cannot write '%s': %s", name, err ? strerror(err) : "stream error") : SL_OK;
    free(a->path);
    memset(a, 0, sizeof *a);
    return rc;
}

int sl_afile_commit(sl_afile *a)
{
    if (a->f && !a->tmp) return commit_direct(a);
    if (!a->f || !a->tmp || !a->path) return sl_error(SL_EINVAL, "atomic write: file is not open");
    const char *what = NULL;
    int err = 0;
    /* fflush surfaces write errors (ENOSPC, EFBIG) that buffered fwrite calls deferred. */
    if (fflush(a->f) != 0 || ferror(a->f)) {
        what = "write";
        err = errno;
    } else if (fsync(fileno(a->f)) != 0) {
        what = "fsync";
        err = errno;
    }
    int cl = fclose(a->f);
    a->f = NULL;
    if (!what && cl != 0) {
        what = "close";
        err = errno;
    }
    if (!what && rename(a->tmp, a->path) != 0) {
        what = "rename";
        err = errno;
    }
    if (what) {
        char *path = a->path;
        a->path = NULL;
        sl_afile_abort(a); /* unlinks the temporary; the old file is untouched */
        int rc = sl_error(SL_EIO, "cannot write '%s' (%s failed): %s", path, what, err ? strerror(err) : "stream error");
        free(path);
        return rc;
    }
    sync_dir_of(a->path);
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
    return SL_OK;
}

int sl_write_file_atomic(const char *path, const void *buf, size_t n)
{
    sl_afile a;
    int rc = sl_afile_open(&a, path);
    if (rc) return rc;
    if (n && fwrite(buf, 1, n, a.f) != n) {
        int err = errno;
        sl_afile_abort(&a);
        return sl_error(SL_EIO, "cannot write '%s': %s", path, strerror(err));
    }
    return sl_afile_commit(&a);
}

int sl_read_file(const char *path, size_t max_bytes, void **buf, size_t *n)
{
    *buf = NULL;
    *n = 0;
    if (!path || !*path) return sl_error(SL_EINVAL, "read: empty path");
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return sl_error(SL_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return sl_error(SL_EIO, "cannot stat '%s': %s", path, strerror(err));
    }
    /* Only regular files: a FIFO or device has no trustworthy size and could block forever. */
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sl_error(SL_EIO, "cannot read '%s': %s", path, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        return sl_error(SL_EFORMAT, "'%s' is %lld bytes, more than the limit of %zu bytes", path, (long long)st.st_size,
                        max_bytes);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *p = malloc(size + 1);
    if (!p) {
        close(fd);
        return sl_error(SL_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            free(p);
            return sl_error(SL_EIO, "cannot read '%s': %s", path, strerror(err));
        }
        if (r == 0) break; /* file shrank while reading: keep what is there */
        got += (size_t)r;
    }
    close(fd);
    p[got] = '\0';
    *buf = p;
    *n = got;
    return SL_OK;
}

int sl_mkdirs(const char *dir)
{
    if (!dir || !*dir) return sl_error(SL_EINVAL, "mkdirs: empty path");
    char *p = strdup(dir);
    if (!p) return sl_error(SL_ENOMEM, "out of memory");
    /* Create each prefix ending before a '/', then the whole path. */
    size_t len = strlen(p);
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        if (p[i - 1] == '/') continue; /* "a//b" */
        char save = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int err = errno;
            int rc = sl_error(SL_EIO, "cannot create directory '%s': %s", p, strerror(err));
            free(p);
            return rc;
        }
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            int rc = sl_error(SL_EIO, "cannot create directory '%s': a non-directory is in the way", p);
            free(p);
            return rc;
        }
        p[i] = save;
    }
    free(p);
    return SL_OK;
}
