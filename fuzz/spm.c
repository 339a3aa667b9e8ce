/* fuzz/spm.c — a SentencePiece .model (sl_spm_parse: the protobuf wire format, the pieces,
 * the trainer and normaliser specs, the charsmap's double array). A model that loads encodes
 * a fixed text (ASCII, white-space runs, several scripts, full-width and compatibility
 * characters the charsmap rewrites, invalid UTF-8, control characters) through the
 * workspace and without it (the same ids), every id in the vocabulary; the ids decode; the
 * first 512 pieces decode one by one; an id outside the vocabulary is refused. */
#include "fuzz/fuzz.h"
#include "nlp/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_spm *m;
    if (sl_spm_parse(data, size, &m)) return fuzz_reject();
    static const char text[] = "  Hello   world, it's 2026!\t\xce\xb1\xce\xb2 \xe4\xb8\xad\xe6\x96\x87 \xef\xbc\xa1\xef\xbc\x91 "
                               "\xe3\x8e\x8f \xef\xac\x81 \xf0\x9f\x98\x80 \xff\xc0\xaf\xed\xa0\x80 a\xcc\x81 \x01\x7f <sep> ";
    int n = sl_spm_size(m);
    int32_t *ids = NULL, *ids2 = NULL;
    size_t ni = 0, cap = 0, ni2 = 0, cap2 = 0;
    sl_spm_ws *w = sl_spm_ws_alloc();
    if (!w) abort();
    int rc = sl_spm_encode_ws(m, w, (const unsigned char *)text, sizeof text - 1, &ids, &ni, &cap);
    int rc2 = sl_spm_encode(m, (const unsigned char *)text, sizeof text - 1, &ids2, &ni2, &cap2);
    if (rc != rc2 || ni != ni2 || (ni && memcmp(ids, ids2, ni * sizeof *ids))) abort();
    unsigned char *out = NULL;
    size_t no = 0, ocap = 0;
    if (!rc) {
        for (size_t i = 0; i < ni; i++)
            if (ids[i] < 0 || ids[i] >= n) abort();
        if (sl_spm_decode(m, ids, ni, &out, &no, &ocap)) abort();
    }
    for (int32_t i = 0; i < n && i < 512; i++) {
        no = 0;
        if (sl_spm_decode(m, &i, 1, &out, &no, &ocap)) abort();
    }
    int32_t bad = n;
    no = 0;
    if (!sl_spm_decode(m, &bad, 1, &out, &no, &ocap)) abort();
    free(out);
    free(ids);
    free(ids2);
    sl_spm_ws_free(w);
    sl_spm_free(m);
    return 0;
}
