/*
 * The compiled screen of aievents._redact and aievents._outbound, part of
 * the aievents._speedups module.
 *
 * suspect(identifier, *values): whether a text may hold a secret, in one
 * pass over its words (its twin is the regular expression itself, behind a
 * cheap first look: it never answers no where the expression would find
 * one; a test holds it to that). It knows the credentials' starts and the
 * secret names from aievents._redact, which gives them through configure()
 * on import: one list, kept in Python.
 *
 * Screen(cls, texts, ids, ...).check(obj): whether an object of exactly
 * `cls` may hold a secret, each field read straight from its slot (its
 * twin is the Python check aievents._outbound generates; both answer the
 * same).
 */
#include "_speedups.h"

/* A character as aievents._redact's expressions see it (they ignore case):
 * ASCII lowercased; the four non-ASCII letters that Unicode case folding
 * matches to ASCII ones (K KELVIN SIGN, LONG S, DOTTED and DOTLESS I) as
 * those; any other non-ASCII character as 0, a boundary. */
static inline Py_UCS4
fold(Py_UCS4 c)
{
    if (c < 128)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c == 0x130 || c == 0x131)
        return 'i';
    if (c == 0x17F)
        return 's';
    if (c == 0x212A)
        return 'k';
    return 0;
}

/* Whether a folded character is part of a word ([A-Za-z0-9_]). */
static inline int
word_char(Py_UCS4 f)
{
    return (f >= 'a' && f <= 'z') || (f >= '0' && f <= '9') || f == '_';
}

static inline int
hex_char(Py_UCS4 f)
{
    return (f >= 'a' && f <= 'f') || (f >= '0' && f <= '9');
}

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t length;
} Text;

static inline Py_UCS4
at(const Text *t, Py_ssize_t i)
{
    return fold(PyUnicode_READ(t->kind, t->data, i));
}

/* What the expressions know, as aievents._redact gives it through configure():
 * the starts of the credentials known by their start (CREDENTIALS), each
 * with whether case counts, and the words that name a secret (NAME_WORDS).
 * One list, kept in Python; until it is given, every text is suspect. */
#define MAX_STARTS 64
#define MAX_NAMES 64
#define MAX_WORD 24
typedef struct {
    char text[MAX_WORD]; /* ASCII; lowercased unless case counts */
    Py_ssize_t length;
    int cased;
} Word;
static Word starts[MAX_STARTS], names[MAX_NAMES];
static int n_starts = -1, n_names = -1;
/* The starts by their first character, folded: bit k of by_first[c] set when
 * starts[k] begins with c (most words begin none). */
static unsigned long long by_first[128];

/* Whether the text at `at` holds `w` (as folded, or as written when case counts). */
static int
holds(const Text *t, Py_ssize_t at_, const Word *w)
{
    if (at_ < 0 || at_ + w->length > t->length)
        return 0;
    for (Py_ssize_t i = 0; i < w->length; i++) {
        Py_UCS4 c = w->cased ? PyUnicode_READ(t->kind, t->data, at_ + i) : at(t, at_ + i);
        if (c != (Py_UCS4)(unsigned char)w->text[i])
            return 0;
    }
    return 1;
}

/* Whether the word [start, end) may begin a secret the expressions find. */
static int
word_suspect(const Text *t, Py_ssize_t start, Py_ssize_t end, int all_hex, int identifier)
{
    Py_ssize_t size = end - start, j;
    if (n_starts < 0 || n_names < 0)
        return 1; /* not configured: anything may be a secret */
    if (size == 32 && all_hex && !identifier)
        return 1; /* an Azure key */
    Py_UCS4 first = at(t, start);
    unsigned long long bits = first < 128 ? by_first[first] : 0;
    for (int k = 0; bits; k++, bits >>= 1) {
        if ((bits & 1) && holds(t, start, &starts[k]))
            return 1; /* a credential known by its start: sk-, r8_, Bearer... */
    }
    /* name = value, name: value, 'name': value, ('name', value); the quotes
     * maybe escaped (\"name\": value, JSON inside a string) */
    int quoted = 0;
    j = end;
    while (j < t->length && PyUnicode_READ(t->kind, t->data, j) == '\\')
        j++;
    if (j < t->length) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, j);
        if (c == '"' || c == '\'') {
            j++;
            quoted = 1;
        }
        else
            j = end;
    }
    while (j < t->length && Py_UNICODE_ISSPACE(PyUnicode_READ(t->kind, t->data, j)))
        j++;
    if (j < t->length) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, j);
        if (c == ':' || c == '=' || (quoted && c == ',')) {
            for (int k = 0; k < n_names; k++) {
                if (size >= names[k].length && holds(t, end - names[k].length, &names[k]))
                    return 1;
            }
        }
    }
    return 0;
}

/* For one byte: 0 a boundary, 1 part of a word ([A-Za-z0-9_]), 2 a hex digit. */
#define W1(c) ((c) == '_' || ((c) >= 'g' && (c) <= 'z') || ((c) >= 'G' && (c) <= 'Z'))
#define W2(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define B(c) (W2(c) ? 2 : W1(c) ? 1 : 0)
#define B4(c) B(c), B(c + 1), B(c + 2), B(c + 3)
#define B16(c) B4(c), B4(c + 4), B4(c + 8), B4(c + 12)
static const unsigned char byte_class[256] = {
    B16(0), B16(16), B16(32), B16(48), B16(64), B16(80), B16(96), B16(112),
};
#undef B16
#undef B4
#undef B
#undef W2
#undef W1

/* Whether a text may hold a secret: one pass over its words. */
static int
text_suspect(PyObject *text, int identifier)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)
        return -1;
#endif
    Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    Py_ssize_t i = 0;
    if (t.kind == PyUnicode_1BYTE_KIND) {
        /* The common case, read byte by byte through a table. Latin-1 letters
         * past ASCII fold to no ASCII letter: boundaries, as fold() says. */
        const Py_UCS1 *d = (const Py_UCS1 *)t.data;
        while (i < t.length) {
            Py_UCS1 c = d[i];
            if (!byte_class[c]) {
                if (c == ':' && i + 2 < t.length && d[i + 1] == '/' && d[i + 2] == '/')
                    return 1;
                i++;
                continue;
            }
            Py_ssize_t start = i;
            int all_hex = 1;
            while (i < t.length && byte_class[d[i]]) {
                all_hex &= byte_class[d[i]] == 2;
                i++;
            }
            if (word_suspect(&t, start, i, all_hex, identifier))
                return 1;
        }
        return 0;
    }
    while (i < t.length) {
        Py_UCS4 c = at(&t, i);
        if (!word_char(c)) {
            if (c == ':' && i + 2 < t.length && at(&t, i + 1) == '/' && at(&t, i + 2) == '/')
                return 1; /* a URL: its user info */
            i++;
            continue;
        }
        Py_ssize_t start = i;
        int all_hex = 1;
        while (i < t.length && word_char(c = at(&t, i))) {
            all_hex &= hex_char(c);
            i++;
        }
        if (word_suspect(&t, start, i, all_hex, identifier))
            return 1;
    }
    return 0;
}

/* Texts found clean lately, by address (a reference is held, so an address
 * stays that text's): the labels every event repeats (a model, a provider,
 * a size) are scanned once. Direct-mapped; one table per rule set. Only
 * short texts are kept, and dropping one runs no Python code. */
#define CLEAN_SLOTS 256
#define CLEAN_MAX_LENGTH 256
static PyObject *clean_texts[2][CLEAN_SLOTS];

static inline PyObject **
clean_slot(PyObject *text, int identifier)
{
    return &clean_texts[identifier != 0][((uintptr_t)text >> 4) & (CLEAN_SLOTS - 1)];
}

/* text_suspect(), remembering the clean short texts. */
static int
str_suspect(PyObject *text, int identifier)
{
    PyObject **slot = clean_slot(text, identifier);
    if (*slot == text)
        return 0;
    int found = text_suspect(text, identifier);
    if (found == 0 && PyUnicode_GET_LENGTH(text) <= CLEAN_MAX_LENGTH) {
        Py_INCREF(text);
        Py_XSETREF(*slot, text);
    }
    return found;
}

/* Whether one value may hold a secret: 1, 0, or -1 with an exception set.
 * None and False are clean; a str is scanned, as is each item of a tuple or
 * list; anything else (True, an object) is for a closer look. */
static int
value_suspect(PyObject *value, int identifier)
{
    if (value == Py_None || value == Py_False)
        return 0;
    if (PyUnicode_Check(value))
        return str_suspect(value, identifier);
    if (PyTuple_Check(value) || PyList_Check(value)) {
        /* Nothing here runs Python code: a list cannot change while it is read. */
        for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(value); k++) {
            PyObject *item = PySequence_Fast_GET_ITEM(value, k);
            if (item == Py_None)
                continue;
            if (!PyUnicode_Check(item))
                return 1;
            int found = str_suspect(item, identifier);
            if (found != 0)
                return found;
        }
        return 0;
    }
    return 1;
}

/* suspect(identifier, *values): see aievents._redact.suspect. */
static PyObject *
speedups_suspect(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "suspect() needs the identifier flag");
        return NULL;
    }
    int identifier = PyObject_IsTrue(args[0]);
    if (identifier < 0)
        return NULL;
    for (Py_ssize_t i = 1; i < nargs; i++) {
        int found = value_suspect(args[i], identifier);
        if (found != 0)
            return found < 0 ? NULL : Py_NewRef(Py_True);
    }
    Py_RETURN_FALSE;
}

/* ------------------------------------------------------------------ Screen */

/* The fields of a class, read from their slots, by how they are looked at:
 * text (scanned), identifiers (scanned without the 32-digit rule), numbers
 * (clean when their exact type is one of `kinds`), others (suspect when
 * set), nested objects (screened by their class's Screen when of exactly
 * that class, else suspect). An object of another class is suspect. */
typedef struct {
    PyObject_HEAD
    PyObject *cls;
    Py_ssize_t *offsets; /* texts, ids, numbers, others, then nested */
    Py_ssize_t texts, ids, numbers, others, count;
    PyObject *kinds;  /* a tuple of types */
    PyObject *nested; /* a tuple of Screens, one per nested field */
} Screen;

static PyTypeObject ScreenType;

/* Put the slot offsets of the field names in `names` at `offsets`: 0, or -1
 * with an exception set. */
static int
offsets_of(PyObject *cls, PyObject *names, Py_ssize_t *offsets)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
        if (text == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "field names must be str");
            return -1;
        }
        if ((offsets[i] = aievents_slot_offset(cls, text)) < 0)
            return -1;
    }
    return 0;
}

static int
Screen_init(Screen *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"cls", "texts", "ids", "numbers", "kinds", "nested", "others", NULL};
    PyObject *cls, *texts, *ids, *numbers = NULL, *kinds = NULL, *nested = NULL, *others = NULL;
    if (self->cls != NULL) {
        PyErr_SetString(PyExc_TypeError, "a Screen is set up once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!|$O!O!O!O!:Screen", kwlist,
                                     &PyType_Type, &cls, &PyTuple_Type, &texts, &PyTuple_Type,
                                     &ids, &PyTuple_Type, &numbers, &PyTuple_Type, &kinds,
                                     &PyTuple_Type, &nested, &PyTuple_Type, &others))
        return -1;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return -1;
    numbers = numbers ? numbers : empty;
    kinds = kinds ? kinds : empty;
    nested = nested ? nested : empty;
    others = others ? others : empty;
    Py_ssize_t n_nested = PyTuple_GET_SIZE(nested);
    Py_ssize_t count = PyTuple_GET_SIZE(texts) + PyTuple_GET_SIZE(ids) + PyTuple_GET_SIZE(numbers)
                       + PyTuple_GET_SIZE(others) + n_nested;
    Py_ssize_t *offsets = PyMem_New(Py_ssize_t, count ? count : 1);
    PyObject *names = NULL, *screens = PyTuple_New(n_nested);
    if (offsets == NULL || screens == NULL) {
        if (offsets == NULL)
            PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kinds); i++) {
        if (!PyType_Check(PyTuple_GET_ITEM(kinds, i))) {
            PyErr_SetString(PyExc_TypeError, "kinds must be types");
            goto fail;
        }
    }
    if ((names = PyTuple_New(n_nested)) == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n_nested; i++) {
        PyObject *pair = PyTuple_GET_ITEM(nested, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
            || !Py_IS_TYPE(PyTuple_GET_ITEM(pair, 1), &ScreenType)
            || ((Screen *)PyTuple_GET_ITEM(pair, 1))->cls == NULL) {
            PyErr_SetString(PyExc_TypeError, "nested must hold (name, Screen) pairs");
            goto fail;
        }
        PyTuple_SET_ITEM(names, i, Py_NewRef(PyTuple_GET_ITEM(pair, 0)));
        PyTuple_SET_ITEM(screens, i, Py_NewRef(PyTuple_GET_ITEM(pair, 1)));
    }
    Py_ssize_t at = 0;
    PyObject *groups[5] = {texts, ids, numbers, others, names};
    for (int g = 0; g < 5; g++) {
        if (offsets_of(cls, groups[g], offsets + at) < 0)
            goto fail;
        at += PyTuple_GET_SIZE(groups[g]);
    }
    self->offsets = offsets;
    self->texts = PyTuple_GET_SIZE(texts);
    self->ids = PyTuple_GET_SIZE(ids);
    self->numbers = PyTuple_GET_SIZE(numbers);
    self->others = PyTuple_GET_SIZE(others);
    self->count = count;
    self->kinds = Py_NewRef(kinds);
    self->nested = screens;
    self->cls = Py_NewRef(cls);
    Py_DECREF(names);
    Py_DECREF(empty);
    return 0;
fail:
    PyMem_Free(offsets);
    Py_XDECREF(names);
    Py_XDECREF(screens);
    Py_DECREF(empty);
    return -1;
}

static void
Screen_dealloc(Screen *self)
{
    PyMem_Free(self->offsets);
    Py_XDECREF(self->cls);
    Py_XDECREF(self->kinds);
    Py_XDECREF(self->nested);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Whether `value`'s exact type is one of the types in the tuple `kinds`. */
static inline int
of_kind(PyObject *value, PyObject *kinds)
{
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kinds); k++) {
        if ((PyObject *)Py_TYPE(value) == PyTuple_GET_ITEM(kinds, k))
            return 1;
    }
    return 0;
}

/* Whether `obj` may hold a secret: 1, 0, or -1 with an exception set. */
static int
screen_suspect(Screen *self, PyObject *obj)
{
    if (self->cls == NULL || (PyObject *)Py_TYPE(obj) != self->cls)
        return 1;
    Py_ssize_t i = 0, end = self->texts + self->ids;
    for (; i < end; i++) {
        PyObject *value = slot(obj, self->offsets[i]);
        if (value == NULL)
            continue;
        Py_INCREF(value);
        int found = value_suspect(value, i >= self->texts);
        Py_DECREF(value);
        if (found != 0)
            return found;
    }
    for (end += self->numbers; i < end; i++) {
        PyObject *value = slot(obj, self->offsets[i]);
        if (value != NULL && !of_kind(value, self->kinds))
            return 1; /* not a number: a closer look */
    }
    for (end += self->others; i < end; i++) {
        PyObject *value = slot(obj, self->offsets[i]);
        if (value != NULL && value != Py_None)
            return 1; /* its own rule decides */
    }
    for (Py_ssize_t k = 0; i < self->count; i++, k++) {
        PyObject *value = slot(obj, self->offsets[i]);
        if (value == NULL || value == Py_None)
            continue;
        Py_INCREF(value);
        int found = screen_suspect((Screen *)PyTuple_GET_ITEM(self->nested, k), value);
        Py_DECREF(value);
        if (found != 0)
            return found;
    }
    return 0;
}

static PyObject *
Screen_check(Screen *self, PyObject *obj)
{
    int found = screen_suspect(self, obj);
    if (found < 0)
        return NULL;
    return Py_NewRef(found ? Py_True : Py_False);
}

static PyMethodDef Screen_methods[] = {
    {"check", (PyCFunction)Screen_check, METH_O,
     "Whether the object may hold a secret in the fields given (True for another class)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScreenType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aievents._speedups.Screen",
    .tp_doc = PyDoc_STR("Screen(cls, texts, ids, *, numbers=(), kinds=(), nested=(), others=()):\n"
                        "the fields of a class, screened (see aievents._outbound)."),
    .tp_basicsize = sizeof(Screen),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Screen_init,
    .tp_dealloc = (destructor)Screen_dealloc,
    .tp_methods = Screen_methods,
};

/* Copy one word given to configure() into `w`: 0, or -1 with an exception set. */
static int
word_from(PyObject *text, int cased, Word *w)
{
    Py_ssize_t length;
    const char *utf8 = PyUnicode_Check(text) ? PyUnicode_AsUTF8AndSize(text, &length) : NULL;
    if (utf8 == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "configure() takes words as str");
        return -1;
    }
    if (length < 1 || length >= MAX_WORD || !PyUnicode_IS_ASCII(text)) {
        PyErr_Format(PyExc_ValueError, "%R: a word is 1 to %d ASCII characters", text,
                     MAX_WORD - 1);
        return -1;
    }
    for (Py_ssize_t i = 0; i < length; i++) {
        char c = utf8[i];
        w->text[i] = (!cased && c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    w->text[length] = '\0';
    w->length = length;
    w->cased = cased;
    return 0;
}

/* configure(starts, names): what the expressions know (see `starts` above).
 * The texts remembered clean are forgotten: the answer may have changed. */
static PyObject *
speedups_configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *given_starts, *given_names;
    if (!PyArg_ParseTuple(args, "O!O!:configure", &PyTuple_Type, &given_starts, &PyTuple_Type,
                          &given_names))
        return NULL;
    Py_ssize_t ns = PyTuple_GET_SIZE(given_starts), nn = PyTuple_GET_SIZE(given_names);
    if (ns > MAX_STARTS || nn > MAX_NAMES) {
        PyErr_Format(PyExc_ValueError, "configure() takes at most %d starts and %d names",
                     MAX_STARTS, MAX_NAMES);
        return NULL;
    }
    Word new_starts[MAX_STARTS], new_names[MAX_NAMES];
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *pair = PyTuple_GET_ITEM(given_starts, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "configure() takes starts as (str, bool) pairs");
            return NULL;
        }
        int cased = PyObject_IsTrue(PyTuple_GET_ITEM(pair, 1));
        if (cased < 0 || word_from(PyTuple_GET_ITEM(pair, 0), cased, &new_starts[i]) < 0)
            return NULL;
    }
    for (Py_ssize_t i = 0; i < nn; i++) {
        if (word_from(PyTuple_GET_ITEM(given_names, i), 0, &new_names[i]) < 0)
            return NULL;
    }
    memcpy(starts, new_starts, sizeof(Word) * (size_t)ns);
    memset(by_first, 0, sizeof(by_first));
    for (Py_ssize_t i = 0; i < ns; i++) {
        char c = starts[i].text[0];
        by_first[(unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c)] |= 1ULL << i;
    }
    memcpy(names, new_names, sizeof(Word) * (size_t)nn);
    n_starts = (int)ns;
    n_names = (int)nn;
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < CLEAN_SLOTS; k++)
            Py_CLEAR(clean_texts[r][k]);
    }
    Py_RETURN_NONE;
}

static PyMethodDef screen_functions[] = {
    {"suspect", (PyCFunction)(void (*)(void))speedups_suspect, METH_FASTCALL,
     "suspect(identifier, *values): whether any value may hold a secret."},
    {"configure", (PyCFunction)speedups_configure, METH_VARARGS,
     "configure(starts, names): the starts of credentials, as (text, case counts) pairs,\n"
     "and the words naming a secret, that suspect() looks for."},
    {NULL, NULL, 0, NULL},
};

int
aievents_add_screen(PyObject *module)
{
    if (PyType_Ready(&ScreenType) < 0 || PyModule_AddFunctions(module, screen_functions) < 0)
        return -1;
    Py_INCREF(&ScreenType);
    if (PyModule_AddObject(module, "Screen", (PyObject *)&ScreenType) < 0) {
        Py_DECREF(&ScreenType);
        return -1;
    }
    return 0;
}
