/* evcharge.exi._exi: schema-informed EXI codec driven by the generated grammar tables.
 *
 * Decoding walks the grammar and builds Python dicts directly; encoding walks the same grammar
 * and picks, in each state, the first production whose key is present in the dict. All reads
 * are checked against the input length and every count/length against the schema bounds (or
 * the remaining input), so malformed input can only produce an ExiError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "exi_engine.h"

#define EXI_MAX_DEPTH 32          /* deepest V2G nesting is ~12; bounds the C recursion */
#define EXI_MAX_KEYS 96           /* distinct keys per element; exigen checks the schemas fit */
#define EXI_MAX_OUTPUT (1u << 20) /* V2GTP payloads are far smaller */
#define VALUE_KEY "#value"        /* dict key of the text of a complex type with simple content */

/* ---------------------------------------------------------------- errors */

typedef struct {
    char reason[160];
    size_t position; /* bit offset */
    int set;
} exi_err;

static PyObject *error_class; /* evcharge.exi.ExiError, installed by set_error_class() */

static int fail(exi_err *e, size_t pos, const char *fmt, ...) {
    if (!e->set) {
        va_list ap;
        va_start(ap, fmt);
        PyOS_vsnprintf(e->reason, sizeof e->reason, fmt, ap);
        va_end(ap);
        e->position = pos;
        e->set = 1;
    }
    return -1;
}

static PyObject *raise_err(const exi_err *e) {
    PyObject *cls = error_class ? error_class : PyExc_ValueError;
    PyObject *args = Py_BuildValue("(sn)", e->reason, (Py_ssize_t)e->position);
    if (args) {
        PyErr_SetObject(cls, args);
        Py_DECREF(args);
    }
    return NULL;
}

/* ---------------------------------------------------------------- per-schema runtime */

typedef struct {
    const exi_schema *s;
    PyObject **names; /* interned str per name-table entry */
    PyObject **enum_values; /* per enum row: the Python value (str, or int for integer enums) */
    PyObject *doc_index;    /* root element name -> index into doc[] (encode looks roots up by name) */
} schema_rt;

static schema_rt *runtimes;
static PyObject *ns_map;    /* namespace str -> index into runtimes */
static PyObject *value_key; /* interned VALUE_KEY */

static const char *name_of(const schema_rt *rt, uint16_t idx) { return rt->s->names + rt->s->name_off[idx]; }

static inline unsigned width_for(unsigned n) {
    /* bits needed to encode codes 0..n-1 */
    unsigned w = 0;
    while ((1u << w) < n) w++;
    return w;
}

/* ---------------------------------------------------------------- bit reader */

typedef struct {
    const uint8_t *buf;
    size_t nbits;
    size_t pos;
} reader;

static inline int rd_bits(reader *r, unsigned n, uint32_t *out, exi_err *e) {
    uint32_t x = 0;
    *out = 0;
    if (n > r->nbits - r->pos || r->pos > r->nbits)
        return fail(e, r->pos, "unexpected end of data (need %u bits)", n);
    while (n) {
        size_t byte = r->pos >> 3;
        unsigned avail = 8u - (unsigned)(r->pos & 7u);
        unsigned take = n < avail ? n : avail;
        unsigned v = ((unsigned)r->buf[byte] >> (avail - take)) & ((1u << take) - 1u);
        x = (x << take) | v;
        n -= take;
        r->pos += take;
    }
    *out = x;
    return 0;
}

static int rd_uvar(reader *r, uint64_t *out, exi_err *e) {
    uint64_t v = 0;
    size_t start = r->pos;
    *out = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint32_t b;
        if (rd_bits(r, 8, &b, e) < 0) return -1;
        uint64_t chunk = b & 0x7Fu;
        if (shift == 63 && chunk > 1) break; /* would overflow 64 bits */
        v |= chunk << shift;
        if (!(b & 0x80u)) {
            *out = v;
            return 0;
        }
        if (shift == 63) break;
    }
    return fail(e, start, "unsigned integer exceeds 64 bits");
}

/* ---------------------------------------------------------------- bit writer */

typedef struct {
    uint8_t *buf;
    size_t cap; /* bytes */
    size_t pos; /* bits */
    uint8_t small[512];
} writer;

static int wr_grow(writer *w, size_t need_bits, exi_err *e) {
    size_t need = (need_bits + 7) / 8;
    if (need <= w->cap) return 0;
    if (need > EXI_MAX_OUTPUT) return fail(e, w->pos, "encoded message exceeds %u bytes", EXI_MAX_OUTPUT);
    size_t ncap = w->cap * 2;
    while (ncap < need) ncap *= 2;
    uint8_t *nb;
    if (w->buf == w->small) {
        nb = PyMem_Malloc(ncap);
        if (nb) memcpy(nb, w->small, w->cap);
    } else {
        nb = PyMem_Realloc(w->buf, ncap);
    }
    if (!nb) return fail(e, w->pos, "out of memory");
    memset(nb + w->cap, 0, ncap - w->cap);
    w->buf = nb;
    w->cap = ncap;
    return 0;
}

static inline int wr_bits(writer *w, unsigned n, uint32_t v, exi_err *e) {
    if (w->pos + n > w->cap * 8 && wr_grow(w, w->pos + n, e) < 0) return -1;
    while (n) {
        size_t byte = w->pos >> 3;
        unsigned avail = 8u - (unsigned)(w->pos & 7u);
        unsigned take = n < avail ? n : avail;
        unsigned bits = (v >> (n - take)) & ((1u << take) - 1u);
        w->buf[byte] |= (uint8_t)(bits << (avail - take));
        n -= take;
        w->pos += take;
    }
    return 0;
}

static int wr_uvar(writer *w, uint64_t v, exi_err *e) {
    do {
        uint32_t b = (uint32_t)(v & 0x7Fu);
        v >>= 7;
        if (v) b |= 0x80u;
        if (wr_bits(w, 8, b, e) < 0) return -1;
    } while (v);
    return 0;
}

/* ---------------------------------------------------------------- values: decode */

static PyObject *dec_chars(reader *r, const exi_dtype *dt, exi_err *e) {
    uint64_t n;
    size_t start = r->pos;
    if (rd_uvar(r, &n, e) < 0) return NULL;
    if (n < 2) {
        fail(e, start, "string table hit (value partition capacity is 0)");
        return NULL;
    }
    n -= 2;
    if ((int64_t)n < dt->lo || (int64_t)n > dt->hi || n > (r->nbits - r->pos) / 8) {
        fail(e, start, "string length %llu out of bounds", (unsigned long long)n);
        return NULL;
    }
    Py_UCS4 stackbuf[128];
    Py_UCS4 *chars = n <= 128 ? stackbuf : PyMem_Malloc((size_t)n * sizeof(Py_UCS4));
    if (!chars) return PyErr_NoMemory();
    Py_UCS4 maxc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t c;
        size_t cpos = r->pos;
        if (rd_uvar(r, &c, e) < 0) goto bad;
        if (c > 0x10FFFF) {
            fail(e, cpos, "invalid character code point");
            goto bad;
        }
        chars[i] = (Py_UCS4)c;
        if (c > maxc) maxc = (Py_UCS4)c;
    }
    PyObject *res;
    if (maxc < 128) {
        res = PyUnicode_New((Py_ssize_t)n, 127);
        if (res) {
            Py_UCS1 *d = PyUnicode_1BYTE_DATA(res);
            for (uint64_t i = 0; i < n; i++) d[i] = (Py_UCS1)chars[i];
        }
    } else {
        res = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, chars, (Py_ssize_t)n);
        if (!res) PyErr_Clear(), fail(e, start, "invalid characters in string");
    }
    if (chars != stackbuf) PyMem_Free(chars);
    return res;
bad:
    if (chars != stackbuf) PyMem_Free(chars);
    return NULL;
}

static PyObject *dec_binary(reader *r, const exi_dtype *dt, exi_err *e) {
    uint64_t n;
    size_t start = r->pos;
    if (rd_uvar(r, &n, e) < 0) return NULL;
    if ((int64_t)n < dt->lo || (int64_t)n > dt->hi || n > (r->nbits - r->pos) / 8) {
        fail(e, start, "binary length %llu out of bounds", (unsigned long long)n);
        return NULL;
    }
    PyObject *res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (!res) return NULL;
    uint8_t *d = (uint8_t *)PyBytes_AS_STRING(res);
    if ((r->pos & 7u) == 0) {
        memcpy(d, r->buf + (r->pos >> 3), (size_t)n);
        r->pos += (size_t)n * 8;
    } else {
        for (uint64_t i = 0; i < n; i++) {
            uint32_t b;
            if (rd_bits(r, 8, &b, e) < 0) {
                Py_DECREF(res);
                return NULL;
            }
            d[i] = (uint8_t)b;
        }
    }
    return res;
}

static PyObject *dec_value(const schema_rt *rt, reader *r, uint16_t dti, exi_err *e) {
    const exi_dtype *dt = &rt->s->dtypes[dti];
    size_t start = r->pos;
    uint32_t v;
    uint64_t u;
    switch (dt->kind) {
    case EXI_BOOL:
        if (rd_bits(r, 1, &v, e) < 0) return NULL;
        return PyBool_FromLong(v);
    case EXI_NBIT: {
        if (rd_bits(r, dt->bits, &v, e) < 0) return NULL;
        int64_t x = dt->lo + (int64_t)v;
        if (x > dt->hi) {
            fail(e, start, "value %lld above maximum %lld", (long long)x, (long long)dt->hi);
            return NULL;
        }
        return PyLong_FromLongLong(x);
    }
    case EXI_UINT:
        if (rd_uvar(r, &u, e) < 0) return NULL;
        if ((int64_t)u < 0 && !(dt->flags & EXI_DT_U64)) u = UINT64_MAX; /* force range error */
        if (u < (uint64_t)dt->lo || (!(dt->flags & EXI_DT_U64) && u > (uint64_t)dt->hi)) {
            fail(e, start, "unsigned value %llu out of range", (unsigned long long)u);
            return NULL;
        }
        return PyLong_FromUnsignedLongLong(u);
    case EXI_INT: {
        if (rd_bits(r, 1, &v, e) < 0 || rd_uvar(r, &u, e) < 0) return NULL;
        if (u > (uint64_t)INT64_MAX) {
            fail(e, start, "integer magnitude out of range");
            return NULL;
        }
        int64_t x = v ? -(int64_t)u - 1 : (int64_t)u;
        if (x < dt->lo || x > dt->hi) {
            fail(e, start, "value %lld out of range", (long long)x);
            return NULL;
        }
        return PyLong_FromLongLong(x);
    }
    case EXI_ENUM: {
        if (rd_bits(r, dt->bits, &v, e) < 0) return NULL;
        if ((int64_t)v >= dt->hi) {
            fail(e, start, "enumeration index %u out of range", v);
            return NULL;
        }
        PyObject *o = rt->enum_values[dt->lo + v];
        Py_INCREF(o);
        return o;
    }
    case EXI_STRING:
        return dec_chars(r, dt, e);
    case EXI_HEX:
    case EXI_B64:
        return dec_binary(r, dt, e);
    }
    fail(e, start, "unknown datatype");
    return NULL;
}

/* ---------------------------------------------------------------- grammar walk: decode */

/* Range of productions of `st` available after `count` loop iterations. */
static inline void avail(const exi_state *st, unsigned count, unsigned *lo, unsigned *hi) {
    *lo = 0;
    *hi = st->count;
    if (st->nloop) {
        if (count < st->lmin)
            *hi = st->nloop;
        else if (st->lmax != EXI_LOOP_INF && count >= st->lmax)
            *lo = st->nloop;
    }
}

static PyObject *dec_element(const schema_rt *rt, reader *r, unsigned start, int depth, exi_err *e) {
    const exi_schema *s = rt->s;
    if (depth > EXI_MAX_DEPTH) {
        fail(e, r->pos, "nesting too deep");
        return NULL;
    }
    int simple = (s->states[start].flags & EXI_STATE_SIMPLE) != 0;
    PyObject *dict = NULL, *text = NULL;
    if (!simple && !(dict = PyDict_New())) return NULL;
    unsigned cur = start, count = 0;
    for (;;) {
        const exi_state *st = &s->states[cur];
        unsigned lo, hi;
        avail(st, count, &lo, &hi);
        unsigned n = hi - lo;
        size_t evpos = r->pos;
        uint32_t code;
        if (rd_bits(r, width_for(n + 1), &code, e) < 0) goto bad;
        if (code >= n) {
            fail(e, evpos, code == n ? "undeclared (non-schema) event not supported" : "invalid event code %u",
                 code);
            goto bad;
        }
        const exi_prod *p = &s->prods[st->first + lo + code];
        PyObject *v;
        switch (p->kind) {
        case EXI_EE:
            if (simple) {
                if (!text) {
                    fail(e, evpos, "element without value");
                    goto bad;
                }
                return text;
            }
            return dict;
        case EXI_AT:
        case EXI_CH:
            if (!(v = dec_value(rt, r, p->arg, e))) goto bad;
            if (simple) {
                Py_XDECREF(text);
                text = v;
            } else {
                int rc = PyDict_SetItem(dict, p->kind == EXI_AT ? rt->names[p->name] : value_key, v);
                Py_DECREF(v);
                if (rc < 0) goto bad;
            }
            break;
        case EXI_SE: {
            if (p->flags & EXI_PROD_ABSTRACT) {
                fail(e, evpos, "abstract element %s", name_of(rt, p->name));
                goto bad;
            }
            if (!(v = dec_element(rt, r, p->arg, depth + 1, e))) goto bad;
            PyObject *key = rt->names[p->name];
            if (p->flags & EXI_PROD_LIST) {
                PyObject *lst = PyDict_GetItemWithError(dict, key);
                if (!lst) {
                    if (PyErr_Occurred() || !(lst = PyList_New(0)) || PyDict_SetItem(dict, key, lst) < 0) {
                        Py_XDECREF(lst);
                        Py_DECREF(v);
                        goto bad;
                    }
                    Py_DECREF(lst); /* the dict holds it */
                }
                int rc = PyList_Append(lst, v);
                Py_DECREF(v);
                if (rc < 0) goto bad;
            } else {
                int rc = PyDict_SetItem(dict, key, v);
                Py_DECREF(v);
                if (rc < 0) goto bad;
            }
            break;
        }
        default:
            fail(e, evpos, "wildcard / mixed content is not supported");
            goto bad;
        }
        if (p->target == EXI_NO_TARGET) {
            fail(e, evpos, "grammar table corrupt");
            goto bad;
        }
        count = p->target == cur ? count + 1 : 1;
        cur = p->target;
    }
bad:
    Py_XDECREF(dict);
    Py_XDECREF(text);
    return NULL;
}

/* ---------------------------------------------------------------- values: encode */

static int enc_chars(writer *w, const exi_dtype *dt, PyObject *v, const char *name, exi_err *e) {
    if (!PyUnicode_Check(v)) return fail(e, w->pos, "%s: expected str", name);
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    if (n < dt->lo || n > dt->hi) return fail(e, w->pos, "%s: string length %zd out of bounds", name, n);
    if (wr_uvar(w, (uint64_t)n + 2, e) < 0) return -1;
    int kind = PyUnicode_KIND(v);
    const void *data = PyUnicode_DATA(v);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 128) {
            if (wr_bits(w, 8, c, e) < 0) return -1;
        } else if (wr_uvar(w, c, e) < 0) {
            return -1;
        }
    }
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int enc_binary(writer *w, const exi_dtype *dt, PyObject *v, const char *name, exi_err *e) {
    if (PyUnicode_Check(v) && dt->kind == EXI_HEX) {
        /* hexBinary given in its lexical (hex string) form */
        Py_ssize_t sl;
        const char *s = PyUnicode_AsUTF8AndSize(v, &sl);
        if (!s) {
            PyErr_Clear();
            return fail(e, w->pos, "%s: invalid hex string", name);
        }
        if (sl % 2) return fail(e, w->pos, "%s: odd-length hex string", name);
        Py_ssize_t n = sl / 2;
        if (n < dt->lo || n > dt->hi) return fail(e, w->pos, "%s: binary length %zd out of bounds", name, n);
        if (wr_uvar(w, (uint64_t)n, e) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
            if (hi < 0 || lo < 0) return fail(e, w->pos, "%s: invalid hex string", name);
            if (wr_bits(w, 8, (uint32_t)(hi << 4 | lo), e) < 0) return -1;
        }
        return 0;
    }
    Py_buffer view;
    if (PyUnicode_Check(v) || PyObject_GetBuffer(v, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        return fail(e, w->pos, "%s: expected bytes", name);
    }
    int rc = 0;
    if (view.len < dt->lo || view.len > dt->hi) {
        rc = fail(e, w->pos, "%s: binary length %zd out of bounds", name, view.len);
    } else if (wr_uvar(w, (uint64_t)view.len, e) < 0) {
        rc = -1;
    } else {
        const uint8_t *d = view.buf;
        for (Py_ssize_t i = 0; i < view.len && rc == 0; i++) rc = wr_bits(w, 8, d[i], e);
    }
    PyBuffer_Release(&view);
    return rc;
}

static int enc_value(const schema_rt *rt, writer *w, uint16_t dti, PyObject *v, const char *name, exi_err *e) {
    const exi_dtype *dt = &rt->s->dtypes[dti];
    switch (dt->kind) {
    case EXI_BOOL:
        if (!PyBool_Check(v)) return fail(e, w->pos, "%s: expected bool", name);
        return wr_bits(w, 1, v == Py_True, e);
    case EXI_NBIT:
    case EXI_INT:
    case EXI_UINT: {
        if (!PyLong_Check(v) || PyBool_Check(v)) return fail(e, w->pos, "%s: expected int", name);
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) return -1;
        if (dt->kind == EXI_UINT && overflow > 0 && (dt->flags & EXI_DT_U64)) {
            unsigned long long ux = PyLong_AsUnsignedLongLong(v);
            if (ux == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                return fail(e, w->pos, "%s: value out of range", name);
            }
            return wr_uvar(w, ux, e);
        }
        if (overflow || x < dt->lo || x > dt->hi) return fail(e, w->pos, "%s: value out of range", name);
        if (dt->kind == EXI_NBIT) return wr_bits(w, dt->bits, (uint32_t)(x - dt->lo), e);
        if (dt->kind == EXI_UINT) return wr_uvar(w, (uint64_t)x, e);
        if (wr_bits(w, 1, x < 0, e) < 0) return -1;
        return wr_uvar(w, x < 0 ? (uint64_t)(-(x + 1)) : (uint64_t)x, e);
    }
    case EXI_ENUM:
        for (int64_t i = 0; i < dt->hi; i++) {
            PyObject *cand = rt->enum_values[dt->lo + i];
            int eq = cand == v ? 1 : PyObject_RichCompareBool(cand, v, Py_EQ);
            if (eq < 0) return -1;
            if (eq && (PyUnicode_Check(v) || (PyLong_Check(v) && !PyBool_Check(v))))
                return wr_bits(w, dt->bits, (uint32_t)i, e);
        }
        return fail(e, w->pos, "%s: not an allowed enumeration value", name);
    case EXI_STRING:
        return enc_chars(w, dt, v, name, e);
    case EXI_HEX:
    case EXI_B64:
        return enc_binary(w, dt, v, name, e);
    }
    return fail(e, w->pos, "unknown datatype");
}

/* ---------------------------------------------------------------- grammar walk: encode */

typedef struct {
    uint16_t name;
    Py_ssize_t used; /* list items consumed (lists) or 1 */
} key_use;

static key_use *find_use(key_use *u, int n, uint16_t name) {
    for (int i = 0; i < n; i++)
        if (u[i].name == name) return &u[i];
    return NULL;
}


static int enc_element(const schema_rt *rt, writer *w, unsigned start, PyObject *obj, uint16_t ename, int depth,
                       exi_err *e) {
    const exi_schema *s = rt->s;
    const char *ename_s = name_of(rt, ename);
    if (depth > EXI_MAX_DEPTH) return fail(e, w->pos, "nesting too deep");
    int simple = (s->states[start].flags & EXI_STATE_SIMPLE) != 0;
    if (!simple && !PyDict_Check(obj)) return fail(e, w->pos, "%s: expected dict", ename_s);
    key_use uses[EXI_MAX_KEYS];
    int n_uses = 0, text_used = 0;
    unsigned cur = start, count = 0;
    for (;;) {
        const exi_state *st = &s->states[cur];
        unsigned lo, hi;
        avail(st, count, &lo, &hi);
        int chosen = -1, ee = -1;
        PyObject *val = NULL;
        key_use *use = NULL;
        for (unsigned i = lo; i < hi && chosen < 0; i++) {
            const exi_prod *p = &s->prods[st->first + i];
            switch (p->kind) {
            case EXI_SE:
                if (p->flags & EXI_PROD_ABSTRACT) break;
                /* fall through */
            case EXI_AT: {
                PyObject *v = PyDict_GetItemWithError(obj, rt->names[p->name]);
                if (!v) {
                    if (PyErr_Occurred()) return -1;
                    break;
                }
                use = find_use(uses, n_uses, p->name);
                if (p->flags & EXI_PROD_LIST) {
                    if (!PyList_Check(v) && !PyTuple_Check(v))
                        return fail(e, w->pos, "%s.%s: expected a list", ename_s, name_of(rt, p->name));
                    Py_ssize_t k = use ? use->used : 0;
                    if (k >= PySequence_Fast_GET_SIZE(v)) break;
                    val = PySequence_Fast_GET_ITEM(v, k);
                } else {
                    if (use) break;
                    val = v;
                }
                chosen = (int)i;
                break;
            }
            case EXI_CH:
                if (simple) {
                    if (!text_used) val = obj, chosen = (int)i;
                } else if (!text_used) {
                    PyObject *v = PyDict_GetItemWithError(obj, value_key);
                    if (!v && PyErr_Occurred()) return -1;
                    if (v) val = v, chosen = (int)i;
                    else return fail(e, w->pos, "%s: missing %s", ename_s, VALUE_KEY);
                }
                break;
            case EXI_EE:
                if (ee < 0) ee = (int)i;
                break;
            default:
                break; /* wildcards / mixed text are never produced by the encoder */
            }
        }
        if (chosen < 0) chosen = ee;
        if (chosen < 0) {
            for (unsigned i = lo; i < hi; i++) {
                const exi_prod *p = &s->prods[st->first + i];
                if (p->kind == EXI_SE || p->kind == EXI_AT)
                    return fail(e, w->pos, "%s: missing required %s", ename_s, name_of(rt, p->name));
            }
            return fail(e, w->pos, "%s: content does not match the schema", ename_s);
        }
        const exi_prod *p = &s->prods[st->first + (unsigned)chosen];
        if (wr_bits(w, width_for(hi - lo + 1), (uint32_t)((unsigned)chosen - lo), e) < 0) return -1;
        switch (p->kind) {
        case EXI_EE: {
            if (simple) return 0;
            /* every key of the dict must have been written */
            Py_ssize_t expected = n_uses + text_used;
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            int bad = PyDict_Size(obj) != expected;
            for (int i = 0; i < n_uses && !bad; i++) {
                PyObject *lv = PyDict_GetItem(obj, rt->names[uses[i].name]);
                if ((PyList_Check(lv) || PyTuple_Check(lv)) && uses[i].used != PySequence_Fast_GET_SIZE(lv)) {
                    return fail(e, w->pos, "%s.%s: too many items", ename_s, name_of(rt, uses[i].name));
                }
            }
            if (!bad) return 0;
            while (PyDict_Next(obj, &pos, &k, &v)) {
                int known = 0;
                for (int i = 0; i < n_uses && !known; i++) known = PyUnicode_Compare(k, rt->names[uses[i].name]) == 0;
                if (text_used && PyUnicode_Check(k) && PyUnicode_Compare(k, value_key) == 0) known = 1;
                if (PyErr_Occurred()) PyErr_Clear();
                if (!known) {
                    PyObject *ks = PyObject_Str(k);
                    const char *kc = ks ? PyUnicode_AsUTF8(ks) : NULL;
                    fail(e, w->pos, "%s: unexpected or misplaced key '%.60s'", ename_s, kc ? kc : "?");
                    Py_XDECREF(ks);
                    PyErr_Clear();
                    return -1;
                }
            }
            return fail(e, w->pos, "%s: unexpected keys", ename_s);
        }
        case EXI_AT:
        case EXI_CH:
            if (enc_value(rt, w, p->arg, val, p->kind == EXI_AT ? name_of(rt, p->name) : ename_s, e) < 0) return -1;
            if (p->kind == EXI_CH) text_used = 1;
            break;
        case EXI_SE:
            if (enc_element(rt, w, p->arg, val, p->name, depth + 1, e) < 0) return -1;
            break;
        }
        if (p->kind == EXI_AT || p->kind == EXI_SE) {
            if (use) {
                use->used++;
            } else {
                if (n_uses >= EXI_MAX_KEYS) return fail(e, w->pos, "%s: too many keys", ename_s);
                uses[n_uses].name = p->name;
                uses[n_uses].used = 1;
                n_uses++;
            }
        }
        count = p->target == cur ? count + 1 : 1;
        cur = p->target;
    }
}

/* ---------------------------------------------------------------- module functions */

static const schema_rt *lookup(PyObject *ns) {
    PyObject *idx = PyDict_GetItemWithError(ns_map, ns);
    if (!idx) {
        if (!PyErr_Occurred()) {
            exi_err e = {{0}, 0, 0};
            PyObject *r = PyObject_Repr(ns);
            const char *rs = r ? PyUnicode_AsUTF8(r) : NULL;
            fail(&e, 0, "unknown namespace %.100s", rs ? rs : "?");
            Py_XDECREF(r);
            PyErr_Clear();
            raise_err(&e);
        }
        return NULL;
    }
    return &runtimes[PyLong_AsLong(idx)];
}

PyDoc_STRVAR(decode_doc, "decode(namespace, data) -> dict\n\nDecode an EXI body (no V2GTP header).");

static PyObject *py_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decode(namespace, data) takes 2 arguments");
        return NULL;
    }
    const schema_rt *rt = lookup(args[0]);
    if (!rt) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) return NULL;
    exi_err e = {{0}, 0, 0};
    reader r = {view.buf, (size_t)view.len * 8, 0};
    PyObject *res = NULL, *val = NULL;
    uint32_t hdr;
    /* EXI header: distinguishing bits 10, no options, final version 1 (0 0000). */
    if (rd_bits(&r, 8, &hdr, &e) < 0) goto done;
    if ((hdr & 0xC0u) != 0x80u) {
        fail(&e, 0, "not an EXI body (distinguishing bits)");
        goto done;
    }
    if (hdr != 0x80u) {
        fail(&e, 2, "unsupported EXI header (options present or version != 1)");
        goto done;
    }
    uint32_t code;
    size_t evpos = r.pos;
    if (rd_bits(&r, width_for(rt->s->n_doc + 1), &code, &e) < 0) goto done;
    if (code >= rt->s->n_doc) {
        fail(&e, evpos, "document element not declared by the schema");
        goto done;
    }
    const exi_prod *p = &rt->s->doc[code];
    if (p->flags & EXI_PROD_ABSTRACT) {
        fail(&e, evpos, "abstract element %s", name_of(rt, p->name));
        goto done;
    }
    if (!(val = dec_element(rt, &r, p->arg, 0, &e))) goto done;
    res = PyDict_New();
    if (res && PyDict_SetItem(res, rt->names[p->name], val) < 0) Py_CLEAR(res);
done:
    Py_XDECREF(val);
    PyBuffer_Release(&view);
    if (!res && !PyErr_Occurred()) return raise_err(&e);
    return res;
}

PyDoc_STRVAR(encode_doc, "encode(namespace, message) -> bytes\n\nEncode {root_element: content} as an EXI body.");

static PyObject *py_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode(namespace, message) takes 2 arguments");
        return NULL;
    }
    const schema_rt *rt = lookup(args[0]);
    if (!rt) return NULL;
    PyObject *msg = args[1];
    exi_err e = {{0}, 0, 0};
    writer w;
    memset(w.small, 0, sizeof w.small);
    w.buf = w.small;
    w.cap = sizeof w.small;
    w.pos = 0;
    PyObject *res = NULL;
    if (!PyDict_Check(msg) || PyDict_Size(msg) != 1) {
        fail(&e, 0, "message must be a dict with exactly one root element");
        goto done;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    PyDict_Next(msg, &pos, &k, &v);
    const exi_schema *s = rt->s;
    PyObject *idx = PyDict_GetItemWithError(rt->doc_index, k);
    if (!idx && PyErr_Occurred()) goto done;
    uint32_t i = idx ? (uint32_t)PyLong_AsUnsignedLong(idx) : s->n_doc;
    if (i >= s->n_doc || (s->doc[i].flags & EXI_PROD_ABSTRACT)) {
        fail(&e, 0, "root element is not a global element of %s", s->ns);
        goto done;
    }
    if (wr_bits(&w, 8, 0x80u, &e) < 0) goto done;
    if (wr_bits(&w, width_for(s->n_doc + 1), i, &e) < 0) goto done;
    if (enc_element(rt, &w, s->doc[i].arg, v, s->doc[i].name, 0, &e) < 0) goto done;
    res = PyBytes_FromStringAndSize((const char *)w.buf, (Py_ssize_t)((w.pos + 7) / 8));
done:
    if (w.buf != w.small) PyMem_Free(w.buf);
    if (!res && !PyErr_Occurred()) return raise_err(&e);
    return res;
}

static PyObject *py_set_error_class(PyObject *self, PyObject *cls) {
    (void)self;
    Py_INCREF(cls);
    Py_XSETREF(error_class, cls);
    Py_RETURN_NONE;
}

static PyObject *py_namespaces(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyObject *t = PyTuple_New(exi_schema_count);
    for (unsigned i = 0; t && i < exi_schema_count; i++) PyTuple_SET_ITEM(t, i, PyUnicode_FromString(exi_schemas[i]->ns));
    return t;
}

static PyObject *py_table_sizes(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyObject *d = PyDict_New();
    for (unsigned i = 0; d && i < exi_schema_count; i++) {
        const exi_schema *s = exi_schemas[i];
        PyObject *v = Py_BuildValue("{s:I,s:I,s:I,s:I}", "states", s->n_states, "productions", s->n_prods,
                                    "datatypes", s->n_dtypes, "names", s->n_names);
        if (!v || PyDict_SetItemString(d, s->ns, v) < 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))py_decode, METH_FASTCALL, decode_doc},
    {"encode", (PyCFunction)(void (*)(void))py_encode, METH_FASTCALL, encode_doc},
    {"set_error_class", py_set_error_class, METH_O, "Install the exception class raised on errors."},
    {"namespaces", py_namespaces, METH_NOARGS, "Namespaces of the compiled schemas."},
    {"table_sizes", py_table_sizes, METH_NOARGS, "Grammar table sizes per namespace."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_exi", "Schema-informed EXI codec (C engine).", -1,
                                    methods, NULL, NULL, NULL, NULL};

static int init_runtimes(void) {
    runtimes = PyMem_Calloc(exi_schema_count, sizeof(schema_rt));
    if (!runtimes) return -1;
    for (unsigned i = 0; i < exi_schema_count; i++) {
        const exi_schema *s = exi_schemas[i];
        schema_rt *rt = &runtimes[i];
        rt->s = s;
        rt->names = PyMem_Calloc(s->n_names ? s->n_names : 1, sizeof(PyObject *));
        if (!rt->names) return -1;
        for (uint32_t j = 0; j < s->n_names; j++) {
            rt->names[j] = PyUnicode_InternFromString(s->names + s->name_off[j]);
            if (!rt->names[j]) return -1;
        }
        uint32_t n_enum = 0;
        for (uint32_t j = 0; j < s->n_dtypes; j++)
            if (s->dtypes[j].kind == EXI_ENUM) n_enum += (uint32_t)s->dtypes[j].hi;
        rt->enum_values = PyMem_Calloc(n_enum ? n_enum : 1, sizeof(PyObject *));
        if (!rt->enum_values) return -1;
        for (uint32_t j = 0; j < s->n_dtypes; j++) {
            const exi_dtype *dt = &s->dtypes[j];
            if (dt->kind != EXI_ENUM) continue;
            for (int64_t k = 0; k < dt->hi; k++) {
                PyObject *name = rt->names[s->enums[dt->lo + k]];
                PyObject *v = (dt->flags & EXI_DT_ENUM_INT) ? PyLong_FromUnicodeObject(name, 10) : (Py_INCREF(name), name);
                if (!v) return -1;
                rt->enum_values[dt->lo + k] = v;
            }
        }
        if (!(rt->doc_index = PyDict_New())) return -1;
        for (uint32_t j = 0; j < s->n_doc; j++) {
            PyObject *jv = PyLong_FromUnsignedLong(j);
            int rc = jv ? PyDict_SetItem(rt->doc_index, rt->names[s->doc[j].name], jv) : -1;
            Py_XDECREF(jv);
            if (rc < 0) return -1;
        }
        PyObject *ns = PyUnicode_FromString(s->ns), *idx = PyLong_FromLong((long)i);
        int rc = (ns && idx) ? PyDict_SetItem(ns_map, ns, idx) : -1;
        Py_XDECREF(ns);
        Py_XDECREF(idx);
        if (rc < 0) return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__exi(void) {
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    if (!runtimes) {
        if (!(ns_map = PyDict_New()) || !(value_key = PyUnicode_InternFromString(VALUE_KEY)) || init_runtimes() < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
