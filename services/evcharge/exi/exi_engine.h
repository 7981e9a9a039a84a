/* EXI grammar-table engine: table layout shared by the generated exi_tables.c and the codec.
 *
 * One engine serves every schema: a schema is a set of grammar states, each a short list of
 * productions (event -> next state). Event codes are the production's index in the state's
 * list (non-strict schema-informed EXI: width ceil(log2(n + 1)), the extra code being the
 * escape to undeclared productions, which this codec rejects).
 */
#ifndef EVCHARGE_EXI_ENGINE_H
#define EVCHARGE_EXI_ENGINE_H

#include <stdint.h>
#include <stddef.h>

/* Production kinds (exigen/grammar.py). */
enum { EXI_AT = 0, EXI_SE = 1, EXI_EE = 2, EXI_CH = 3, EXI_SEW = 4, EXI_CHU = 5 };
/* Datatype kinds (exigen/datatypes.py). */
enum { EXI_BOOL = 0, EXI_NBIT, EXI_UINT, EXI_INT, EXI_ENUM, EXI_STRING, EXI_HEX, EXI_B64 };

#define EXI_PROD_LIST 1u      /* SE of a repeated element: the dict value is a list */
#define EXI_PROD_ABSTRACT 2u  /* abstract element: has an event code but is never valid */
#define EXI_STATE_SIMPLE 1u   /* grammar start of a simple type: element value is a scalar */
#define EXI_DT_U64 1u         /* UINT whose upper bound is the full uint64 range */
#define EXI_DT_ENUM_INT 2u    /* enumeration over an integer base type */
#define EXI_NO_TARGET 0xFFFFu
#define EXI_LOOP_INF 0xFFFFu

typedef struct {
    uint8_t kind;
    uint8_t flags;
    uint16_t name;   /* index into the schema's name table (AT, SE) */
    uint16_t arg;    /* SE: start state of the child grammar; AT/CH: datatype index */
    uint16_t target; /* next state, EXI_NO_TARGET after EE */
} exi_prod;

typedef struct {
    uint16_t first; /* first production */
    uint8_t count;  /* number of productions */
    uint8_t nloop;  /* > 0: counted loop state; the first nloop productions repeat an element */
    uint8_t flags;
    uint16_t lmin;  /* loop: occurrences required before the other productions are allowed */
    uint16_t lmax;  /* loop: occurrences after which the loop productions disappear */
} exi_state;

typedef struct {
    uint8_t kind;
    uint8_t bits;  /* NBIT / ENUM width */
    uint8_t flags;
    int64_t lo;    /* integers: lower bound; strings/binary: min length; ENUM: first enum row */
    int64_t hi;    /* integers: upper bound; strings/binary: max length; ENUM: value count */
} exi_dtype;

typedef struct {
    const char *ns;
    const char *id;
    const exi_state *states;
    uint32_t n_states;
    const exi_prod *prods;
    uint32_t n_prods;
    const exi_prod *doc; /* global elements, sorted: the DocContent productions */
    uint32_t n_doc;
    const exi_dtype *dtypes;
    uint32_t n_dtypes;
    const uint16_t *enums; /* enum value -> name index */
    const char *names;
    const uint16_t *name_off;
    uint32_t n_names;
} exi_schema;

extern const exi_schema *const exi_schemas[];
extern const unsigned exi_schema_count;

#endif
