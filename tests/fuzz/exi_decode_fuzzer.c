/* libFuzzer harness for the EXI decoder of evcharge.exi (built with ASan + UBSan by ci/exi-fuzz.sh).
 *
 * Input: first byte selects the schema (index into exi_schemas[] modulo the count), the rest is
 * an EXI body. Properties checked on every input:
 *   - decoding either succeeds or raises the codec's error (ValueError here: ExiError is only
 *     installed by the Python package); any other exception is a finding;
 *   - whatever decodes must encode again, and that encoding must decode to an equal dict.
 * Memory errors and undefined behaviour are caught by the sanitizers.
 *
 * The engine is included as source so its static functions need no export; CPython itself is
 * the system libpython (uninstrumented), run with PYTHONMALLOC=malloc so ASan sees every
 * allocation the codec makes through Python's allocators.
 */
#include "../../services/evcharge/exi/_exi.c"

#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static PyObject *ns_objs[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("PYTHONMALLOC", "malloc", 1);
    Py_InitializeEx(0);
    PyObject *m = PyInit__exi();
    if (!m || exi_schema_count > 64) abort();
    for (unsigned i = 0; i < exi_schema_count; i++) ns_objs[i] = PyUnicode_FromString(exi_schemas[i]->ns);
    return 0;
}

static void expect_codec_error(const char *what) {
    if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
        fprintf(stderr, "%s raised a non-codec exception:\n", what);
        PyErr_Print();
        abort();
    }
    PyErr_Clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    PyObject *ns = ns_objs[data[0] % exi_schema_count];
    PyObject *buf = PyBytes_FromStringAndSize((const char *)data + 1, (Py_ssize_t)(size - 1));
    if (!buf) abort();
    PyObject *args[2] = {ns, buf};
    PyObject *msg = py_decode(NULL, args, 2);
    Py_DECREF(buf);
    if (!msg) {
        expect_codec_error("decode");
        return 0;
    }
    PyObject *eargs[2] = {ns, msg};
    PyObject *enc = py_encode(NULL, eargs, 2);
    if (!enc) {
        fprintf(stderr, "decoded message does not re-encode:\n");
        PyErr_Print();
        abort();
    }
    PyObject *dargs[2] = {ns, enc};
    PyObject *again = py_decode(NULL, dargs, 2);
    if (!again || PyObject_RichCompareBool(again, msg, Py_EQ) != 1) {
        fprintf(stderr, "re-encoded message decodes differently\n");
        if (PyErr_Occurred()) PyErr_Print();
        abort();
    }
    Py_DECREF(again);
    Py_DECREF(enc);
    Py_DECREF(msg);
    return 0;
}
