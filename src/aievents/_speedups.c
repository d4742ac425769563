/*
 * aievents._speedups: the compiled twin of aievents.sinks._tally.PyTally.
 *
 * Tally.add(event) adds an image:usage event to the totals of a series that
 * already exists, or tells the caller to take the Python path. It holds the
 * GIL from start to end and runs no Python code in between (exact types
 * only), so it is atomic for every other thread; it declines (SLOW) while
 * Python code holds the sink's lock (the table counts in its `held` list
 * each time its code takes and releases it).
 *
 * Both twins must count the same way: tests run the sink on each.
 *
 * The module also holds the compiled screen of aievents._redact and
 * aievents._outbound (suspect() and Screen), in _screen.c.
 */
#include "_speedups.h"

/* The version of this module's interface: aievents._compiled.ABI must be the
 * same, or the pure Python twins run instead. Bump both whenever what Python
 * calls here changes (arguments, fields, types). */
#ifndef SPEEDUPS_ABI
#define SPEEDUPS_ABI 6
#endif

/* The digest of the C sources this module was built from (setup.py sets it
 * from aievents._compiled.source_digest): where the sources are kept beside
 * the build, a digest that differs means they changed since, and the pure
 * Python twins run instead. */
#ifndef SPEEDUPS_SOURCES
#define SPEEDUPS_SOURCES ""
#endif

enum { ADDED = 0, IGNORED = 1, SLOW = 2, MAINTAIN = 3 };

#define LANES 20
#define SPLIT_LANES 6
#define UNIT_LANES 7
/* The lanes of unpriced_requests and reported_requests, the computed cost
 * lanes, and cost_reported (aievents.totals.FIELDS). */
#define UNPRICED_LANE 10
#define REPORTED_LANE 11
#define COST_LANE 12
#define REPORTED_COST_LANE 19
#define USAGE_SLOTS 5
/* The event's slots read (event_slots), and where its dimensions start. */
#define EVENT_SLOTS 13
#define FIRST_DIM 5
#define DIMS (EVENT_SLOTS - FIRST_DIM)
#define DAY_MINUTES 1440
#define MAINTAIN_EVERY 256

/* The layout this module is built for: the slots it reads of the Python
 * classes, and the order of the tuples in two of them. The module exports it
 * as LAYOUT; aievents._compiled checks it against the Python classes before
 * the compiled tally is used (aievents._compiled.layout_mismatch). */

/* The event's slots read here: request id, timestamp, usage, cost, images,
 * then the dimensions of a series in aievents.query.DIMENSIONS order. */
static const char *event_slots[EVENT_SLOTS] = {
    "request_id", "timestamp",  "usage",   "cost",       "images",   "model",  "size",
    "operation",  "project_id", "user_id", "api_key_id", "provider", "quality"};
/* From FIRST_DIM on, they are LAYOUT["dims"], checked against
 * aievents.query.DIMENSIONS (source read as the event's operation). */

/* ImageUsage's slots read here (aievents.usage): the counts, split, then
 * the cost its provider reported and its cost details (this path takes only
 * a usage with neither: the Python path counts a reported cost). */
static const char *usage_slots[USAGE_SLOTS] = {"input_tokens", "output_tokens", "split", "cost",
                                               "cost_details"};
/* ImageCost's slots read here (aievents.money): units, then unpriced. */
static const char *cost_slots[2] = {"units", "unpriced"};
/* What ImageUsage.split holds, in order (aievents.usage.SPLIT_FIELDS)... */
static const char *split_fields[SPLIT_LANES] = {
    "input_text_tokens",         "input_image_tokens",  "input_cached_text_tokens",
    "input_cached_image_tokens", "output_image_tokens", "output_text_tokens"};
/* ...and the lane of aievents.totals.FIELDS each goes to. */
static const int split_lane[SPLIT_LANES] = {4, 5, 8, 9, 6, 7};
/* What ImageCost.units holds, in order (aievents.money.UNIT_FIELDS), into
 * the lanes from COST_LANE on. */
static const char *unit_fields[UNIT_LANES] = {
    "cost_input_text",  "cost_input_image", "cost_cached_input", "cost_output_image",
    "cost_output_text", "cost_per_image",   "cost_other"};
static PyObject *one;

/* The totals layout this module is built for (LAYOUT["totals"], checked
 * against aievents.totals.FIELDS): the lane numbers here follow from it. */
static const char *totals_fields[LANES] = {
    "num_model_requests",       "images",
    "input_tokens",             "output_tokens",
    "input_text_tokens",        "input_image_tokens",
    "output_image_tokens",      "output_text_tokens",
    "input_cached_text_tokens", "input_cached_image_tokens",
    "unpriced_requests",        "reported_requests",
    "cost_input_text",          "cost_input_image",
    "cost_cached_input",        "cost_output_image",
    "cost_output_text",         "cost_per_image",
    "cost_other",               "cost_reported",
};

/* A non-negative int as long long: fast for the small ones. Sets *fits to 0
 * when it does not fit (or is negative). */
static inline long long
as_count(PyObject *value, int *fits)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)value)) {
        Py_ssize_t v = PyUnstable_Long_CompactValue((PyLongObject *)value);
        *fits = v >= 0;
        return v;
    }
#else
    Py_ssize_t size = Py_SIZE(value);
    if (size == 0 || size == 1) {
        *fits = 1;
        return size ? (long long)((PyLongObject *)value)->ob_digit[0] : 0;
    }
#endif
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    *fits = !overflow && v >= 0;
    return v;
}

/* ------------------------------------------------------------------ Totals */

/* An entry: the LANES of aievents.totals.FIELDS as C integers while they fit
 * (then as a list of Python ints, exact whatever their size), and the extra
 * (None, or the Decimal cost parts finer than cost units). Indexable like
 * the list the Python twin keeps: t[i] and t[i] = v for i < LANES + 1. */
typedef struct {
    PyObject_HEAD
    long long small[LANES];
    PyObject *big;   /* NULL, or a list of LANES ints once one outgrew long long */
    PyObject *extra; /* None, or a list of Decimal cost parts */
} Totals;

static PyTypeObject TotalsType;

static PyObject *
totals_new_zero(void)
{
    Totals *t = PyObject_New(Totals, &TotalsType);
    if (t == NULL)
        return NULL;
    memset(t->small, 0, sizeof(t->small));
    t->big = NULL;
    Py_INCREF(Py_None);
    t->extra = Py_None;
    return (PyObject *)t;
}

static PyObject *
Totals_new(PyTypeObject *Py_UNUSED(type), PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs != NULL && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Totals() takes no arguments");
        return NULL;
    }
    return totals_new_zero();
}

static void
Totals_dealloc(Totals *t)
{
    Py_XDECREF(t->big);
    Py_XDECREF(t->extra);
    PyObject_Free(t);
}

/* Move the lanes to Python ints (an allocation: callers hold the sink's lock). */
static int
totals_promote(Totals *t)
{
    PyObject *big = PyList_New(LANES);
    if (big == NULL)
        return -1;
    for (int i = 0; i < LANES; i++) {
        PyObject *value = PyLong_FromLongLong(t->small[i]);
        if (value == NULL) {
            Py_DECREF(big);
            return -1;
        }
        PyList_SET_ITEM(big, i, value);
    }
    t->big = big;
    return 0;
}

static Py_ssize_t
Totals_length(Totals *Py_UNUSED(t))
{
    return LANES + 1;
}

static PyObject *
Totals_item(Totals *t, Py_ssize_t i)
{
    if (i < 0 || i > LANES) {
        PyErr_SetString(PyExc_IndexError, "Totals index out of range");
        return NULL;
    }
    if (i == LANES) {
        Py_INCREF(t->extra);
        return t->extra;
    }
    if (t->big != NULL) {
        PyObject *value = PyList_GET_ITEM(t->big, i);
        Py_INCREF(value);
        return value;
    }
    return PyLong_FromLongLong(t->small[i]);
}

static int
Totals_ass_item(Totals *t, Py_ssize_t i, PyObject *value)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "Totals items cannot be deleted");
        return -1;
    }
    if (i < 0 || i > LANES) {
        PyErr_SetString(PyExc_IndexError, "Totals index out of range");
        return -1;
    }
    if (i == LANES) {
        if (value != Py_None && !PyList_CheckExact(value)) {
            PyErr_SetString(PyExc_TypeError, "the extra must be None or a list");
            return -1;
        }
        Py_INCREF(value);
        Py_SETREF(t->extra, value);
        return 0;
    }
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a lane must be an int");
        return -1;
    }
    if (t->big == NULL) {
        int overflow;
        long long small = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (small == -1 && PyErr_Occurred())
            return -1;
        if (!overflow) {
            t->small[i] = small;
            return 0;
        }
        if (totals_promote(t) < 0)
            return -1;
    }
    PyObject *exact = PyNumber_Long(value); /* an exact int, whatever subclass came */
    if (exact == NULL)
        return -1;
    return PyList_SetItem(t->big, i, exact);
}

static PySequenceMethods Totals_as_sequence = {
    .sq_length = (lenfunc)Totals_length,
    .sq_item = (ssizeargfunc)Totals_item,
    .sq_ass_item = (ssizeobjargproc)Totals_ass_item,
};

static PyTypeObject TotalsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aievents._speedups.Totals",
    .tp_doc = PyDoc_STR("The totals of one AggregateSink entry: 20 lanes and the extra."),
    .tp_basicsize = sizeof(Totals),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Totals_new,
    .tp_dealloc = (destructor)Totals_dealloc,
    .tp_as_sequence = &Totals_as_sequence,
};

/* Work out an entry's lanes plus one event's. Returns 0 (the sums are in
 * sums), 2 (the entry holds Python ints: totals_commit adds them), or 1 when
 * it needs Python (a lane would outgrow long long: promoting allocates a
 * list, which the caller may not do here). Changes nothing. */
static int
totals_prepare(Totals *t, PyObject **lanes, long long *sums)
{
    if (t->big != NULL)
        return 2;
    for (int i = 0; i < LANES; i++) {
        sums[i] = t->small[i];
        if (lanes[i] == Py_None)
            continue;
        int fits;
        long long value = as_count(lanes[i], &fits);
        if (!fits || sums[i] > LLONG_MAX - value)
            return 1;
        sums[i] += value;
    }
    return 0;
}

/* Add one event to an entry, as totals_prepare() said: 0, or -1 on error.
 * Only ints are allocated here, which never start a collection. */
static int
totals_commit(Totals *t, PyObject **lanes, const long long *sums, int prepared)
{
    if (prepared == 0) {
        memcpy(t->small, sums, sizeof(t->small));
        return 0;
    }
    for (int i = 0; i < LANES; i++) {
        PyObject *value = lanes[i];
        if (value == Py_None)
            continue;
        PyObject *sum = PyNumber_Add(PyList_GET_ITEM(t->big, i), value);
        if (sum == NULL)
            return -1;
        PyList_SetItem(t->big, i, sum); /* steals sum, drops the old total */
    }
    return 0;
}

typedef struct {
    PyObject_HEAD
    long long minute;
    PyObject *moves;  /* the table's moves[0] when it was recorded: if it changed, stale */
    PyObject *totals;
} Recent;

static void
Recent_dealloc(Recent *r)
{
    Py_XDECREF(r->totals);
    Py_XDECREF(r->moves);
    PyObject_Free(r);
}

static PyTypeObject RecentType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aievents._speedups.Recent",
    .tp_doc = PyDoc_STR("The entry a series last added to."),
    .tp_basicsize = sizeof(Recent),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Recent_dealloc,
};

static Recent *
recent_new(void)
{
    Recent *r = PyObject_New(Recent, &RecentType);
    if (r != NULL) {
        r->minute = -1;
        r->moves = NULL;
        r->totals = NULL;
    }
    return r;
}

typedef struct {
    PyObject_HEAD
    PyObject *event_cls, *usage_cls, *cost_cls;
    PyObject *series; /* dict: (minute, dims) -> Totals */
    PyObject *seen;    /* the table's set: the request ids in ring */
    PyObject *ring;    /* the table's list of slots, the latest request ids */
    PyObject *ring_at; /* the table's list [i]: the slot the next request id goes to */
    PyObject *canonical; /* dict: the dims of every series held, to one tuple each */
    PyObject *opened;    /* list: keys of the entries opened here, for the table to book */
    PyObject *recent;    /* dict: dims -> Recent, the entry each series last added to */
    PyObject *moves;     /* the table's list [n]: n changes when it moves minute entries */
    PyObject *fallback; /* the table's take(event, status), for SLOW and MAINTAIN */
    PyObject *clock;    /* the table's clock: seconds since the epoch */
    long long retention; /* minutes of totals kept */
    /* Slot offsets: the event's event_slots, the usage's usage_slots, the
     * cost's cost_slots (units, unpriced). */
    Py_ssize_t event_off[EVENT_SLOTS], usage_off[USAGE_SLOTS], units_off, unpriced_off;
    Py_ssize_t events, duplicates, ticks;
    PyObject *held; /* the table's list [n]: n counts its lock's takes and releases */
    char closed;
} Tally;

/* The table's held[0]: how many times its Python code took and released
 * the lock (odd while it holds it); -1 if that is not an int. */
static inline Py_ssize_t
lock_count(Tally *t)
{
    if (PyList_GET_SIZE(t->held) < 1)
        return -1;
    Py_ssize_t n = PyLong_AsSsize_t(PyList_GET_ITEM(t->held, 0));
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return n;
}

/* Whether Python code holds the sink's lock now, or took it since `epoch`
 * (a lock_count): what was read before is then stale. */
static inline int
changed(Tally *t, Py_ssize_t epoch)
{
    Py_ssize_t now = lock_count(t);
    return now < 0 || (now & 1) || now != epoch;
}

static int
ready(Tally *t)
{
    if (t->seen == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Tally.__init__ was not called");
        return 0;
    }
    return 1;
}

/* Remember a request id in the table's ring (as its remember() does): 1
 * when it is new, 0 when it was already remembered (nothing changes then),
 * -1 on error. One lookup of the set; nothing here runs Python code. */
static int
remember(Tally *t, PyObject *rid)
{
    Py_ssize_t size = PyList_GET_SIZE(t->ring);
    if (size < 1 || PyList_GET_SIZE(t->ring_at) < 1) {
        PyErr_SetString(PyExc_RuntimeError, "the table's request id ring is empty");
        return -1;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(PyList_GET_ITEM(t->ring_at, 0));
    if (pos == -1 && PyErr_Occurred())
        return -1;
    if (pos < 0 || pos >= size) {
        PyErr_SetString(PyExc_RuntimeError, "the table's request id ring is out of step");
        return -1;
    }
    Py_ssize_t held = PySet_GET_SIZE(t->seen);
    if (PySet_Add(t->seen, rid) < 0)
        return -1;
    if (PySet_GET_SIZE(t->seen) == held)
        return 0;
    /* An int, not tracked by the collector: its making starts no collection. */
    PyObject *next = PyLong_FromSsize_t((pos + 1) % size);
    if (next == NULL) {
        PySet_Discard(t->seen, rid);
        return -1;
    }
    PyObject *old = PyList_GET_ITEM(t->ring, pos);
    Py_INCREF(rid);
    PyList_SET_ITEM(t->ring, pos, rid);
    PyList_SetItem(t->ring_at, 0, next); /* steals next; the old int's release runs no code */
    /* The ring and the set hold exact strs only, whose release runs no code. */
    int discarded = old == Py_None ? 0 : PySet_Discard(t->seen, old);
    Py_DECREF(old);
    return discarded < 0 ? -1 : 1;
}

static int
exact_int(PyObject *value)
{
    return value == Py_None || PyLong_CheckExact(value);
}

static int
exact_str(PyObject *value)
{
    return value == Py_None || PyUnicode_CheckExact(value);
}


/* The table's moves[0] now (borrowed; NULL if the table emptied the list). */
static inline PyObject *
moves_now(Tally *t)
{
    return PyList_GET_SIZE(t->moves) > 0 ? PyList_GET_ITEM(t->moves, 0) : NULL;
}

/* The entry of (minute, dims) for tally_add, when the series is held: from
 * the series' Recent, else looked up (or opened, and queued in t->opened
 * for the sink to book) and kept in its Recent. Sets *entry (borrowed) and
 * returns ADDED, or returns SLOW (a new series, or the lock was taken while
 * allocating), IGNORED (a duplicate) or -1. What it allocates comes before
 * its own look at the lock, so callers need not look again. */
static int
locate(Tally *t, Py_ssize_t epoch, PyObject *dims, PyObject *rid, long long minute,
       PyObject **entry)
{
    PyObject *recent = PyDict_GetItemWithError(t->recent, dims);
    if (recent == NULL && PyErr_Occurred())
        return -1;
    if (recent != NULL) {
        Recent *r = (Recent *)recent;
        /* The table changes moves[0] (to a new int) when it moves or
         * drops minute entries: a Recent from before that may be stale. */
        if (r->moves != NULL && r->moves == moves_now(t) && r->minute == minute) {
            Py_INCREF(r->totals);
            *entry = r->totals;
            return ADDED;
        }
    }
    PyObject *canonical = PyDict_GetItemWithError(t->canonical, dims);
    if (canonical == NULL)
        return PyErr_Occurred() ? -1 : SLOW; /* a new series: the sink's (the cap) */

    int status = -1;
    PyObject *minute_obj = NULL, *key = NULL, *fresh = NULL;
    Recent *made = NULL;
    Py_INCREF(canonical);
    if ((minute_obj = PyLong_FromLongLong(minute)) == NULL
        || (key = PyTuple_Pack(2, minute_obj, canonical)) == NULL
        || (fresh = totals_new_zero()) == NULL || (made = recent_new()) == NULL)
        goto done;
    /* Those allocations could have let another thread in, or run the
     * collector and its finalizers here: what was read may be stale. */
    if (changed(t, epoch)) {
        status = SLOW;
        goto done;
    }
    /* A duplicate opens nothing. */
    int seen = PySet_Contains(t->seen, rid);
    if (seen < 0)
        goto done;
    if (seen) {
        t->duplicates++;
        status = IGNORED;
        goto done;
    }
    PyObject *found = PyDict_GetItemWithError(t->series, key);
    if (found == NULL) {
        if (PyErr_Occurred())
            goto done;
        if (PyList_Append(t->opened, key) < 0)
            goto done;
        if (PyDict_SetItem(t->series, key, fresh) < 0) {
            Py_ssize_t n = PyList_GET_SIZE(t->opened);
            PyList_SetSlice(t->opened, n - 1, n, NULL);
            goto done;
        }
        found = fresh;
    }
    else if (!Py_IS_TYPE(found, &TotalsType)) {
        status = SLOW;
        goto done;
    }
    if ((recent = PyDict_GetItemWithError(t->recent, dims)) == NULL) {
        if (PyErr_Occurred())
            goto done;
        /* More Recents than series held: some are of series gone. Start
         * afresh (amortized O(1): as many adds refill it). Releasing them
         * runs no Python code (Recents, Totals, tuples of exact strs). */
        if (PyDict_GET_SIZE(t->recent) > PyDict_GET_SIZE(t->canonical))
            PyDict_Clear(t->recent);
        if (PyDict_SetItem(t->recent, canonical, (PyObject *)made) < 0)
            goto done;
        recent = (PyObject *)made;
    }
    Recent *r = (Recent *)recent;
    r->minute = minute;
    PyObject *now = moves_now(t);
    Py_XINCREF(now);
    Py_XSETREF(r->moves, now);
    Py_INCREF(found);
    Py_XSETREF(r->totals, found);
    Py_INCREF(found);
    *entry = found;
    status = ADDED;
done:
    Py_DECREF(canonical);
    Py_XDECREF(minute_obj);
    Py_XDECREF(key);
    Py_XDECREF(fresh);
    Py_XDECREF(made);
    return status;
}

/* The first minute the sink keeps now (aievents.sinks._tally.expiry): whole
 * UTC days go once their start is `retention` minutes old. Sets *ok to 0
 * when the clock fails or says something that is not a time (the event then
 * takes the Python path, which reports it). Runs the clock: Python code. */
static long long
expiry(Tally *t, int *ok)
{
    PyObject *now = PyObject_CallNoArgs(t->clock);
    *ok = 0;
    if (now == NULL) {
        PyErr_Clear();
        return 0;
    }
    double seconds = PyFloat_AsDouble(now);
    Py_DECREF(now);
    if (seconds == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    /* int(now) // 60 - retention, within what long long holds */
    if (!(seconds > -9.0e15 && seconds < 9.0e15))
        return 0;
    long long whole = (long long)seconds; /* truncated, as int() does */
    long long minute = whole / 60 - (whole % 60 < 0 ? 1 : 0);
    long long first = minute - t->retention;
    long long into = first % DAY_MINUTES;
    if (into < 0)
        into += DAY_MINUTES;
    *ok = 1;
    return first - into + DAY_MINUTES;
}

/* One of the statuses, or -1 with an exception set. */
static int
tally_add(Tally *t, PyObject *event)
{
    PyObject *got[EVENT_SLOTS], *usage_got[USAGE_SLOTS], *lanes[LANES], *entry = NULL;
    int status, i;

    if (!ready(t))
        return -1;
    Py_ssize_t epoch = lock_count(t);
    if (t->closed)
        return IGNORED;
    if ((PyObject *)Py_TYPE(event) != t->event_cls)
        return SLOW;
    /* Borrowed: the event keeps them alive, and nothing here runs Python code. */
    for (i = 0; i < EVENT_SLOTS; i++) {
        if ((got[i] = slot(event, t->event_off[i])) == NULL)
            return SLOW;
    }
    PyObject *rid = got[0], *usage = got[2], *cost = got[3];
    if (!PyUnicode_CheckExact(rid) || !PyLong_CheckExact(got[1]) || !exact_int(got[4])
        || (PyObject *)Py_TYPE(usage) != t->usage_cls
        || (PyObject *)Py_TYPE(cost) != t->cost_cls)
        return SLOW;
    for (i = 0; i < USAGE_SLOTS; i++) {
        if ((usage_got[i] = slot(usage, t->usage_off[i])) == NULL)
            return SLOW;
    }
    /* A cost the provider reported (or its details): the Python path counts it. */
    if (usage_got[3] != Py_None || usage_got[4] != Py_None)
        return SLOW;
    PyObject *split = usage_got[2], *units = slot(cost, t->units_off);
    PyObject *unpriced = slot(cost, t->unpriced_off);
    if (!exact_int(usage_got[0]) || !exact_int(usage_got[1]) || units == NULL
        || !PyTuple_CheckExact(split) || PyTuple_GET_SIZE(split) != SPLIT_LANES
        || !PyTuple_CheckExact(units) || PyTuple_GET_SIZE(units) != UNIT_LANES
        || unpriced == NULL || !PyTuple_CheckExact(unpriced))
        return SLOW;
    for (i = FIRST_DIM; i < EVENT_SLOTS; i++) {
        if (!exact_str(got[i]))
            return SLOW;
    }
    lanes[0] = one;
    lanes[1] = got[4];
    lanes[2] = usage_got[0];
    lanes[3] = usage_got[1];
    for (i = 0; i < SPLIT_LANES; i++)
        lanes[split_lane[i]] = PyTuple_GET_ITEM(split, i);
    /* A cost with unpriced parts is an unpriced request. */
    lanes[UNPRICED_LANE] = PyTuple_GET_SIZE(unpriced) ? one : Py_None;
    for (i = 0; i < UNIT_LANES; i++)
        lanes[COST_LANE + i] = PyTuple_GET_ITEM(units, i);
    /* No cost reported (checked above): its lanes stay as they are. */
    lanes[REPORTED_LANE] = Py_None;
    lanes[REPORTED_COST_LANE] = Py_None;
    for (i = 0; i < LANES; i++) {
        if (!exact_int(lanes[i]))
            return SLOW;
    }
    int fits;
    long long timestamp = as_count(got[1], &fits);
    if (!fits)
        return SLOW;
    /* An event older than the sink keeps is the sink's to count (expired).
     * The clock is Python code: what it may change (the lock taken, the
     * tally closed) is seen by the check past the next allocation. */
    long long cutoff = expiry(t, &fits);
    if (!fits || timestamp / 60000 < cutoff)
        return SLOW;

    PyObject *dims = PyTuple_New(DIMS);
    if (dims == NULL)
        return -1;
    for (i = 0; i < DIMS; i++) {
        Py_INCREF(got[FIRST_DIM + i]);
        PyTuple_SET_ITEM(dims, i, got[FIRST_DIM + i]);
    }
    /* Past an allocation that could start a collection (and so a finalizer,
     * which could let another thread run), the lock is checked: if Python
     * code does not hold it now, it cannot take it until the next one. */
    if (changed(t, epoch)) {
        status = SLOW;
        goto done;
    }
    if ((status = locate(t, epoch, dims, rid, timestamp / 60000, &entry)) != ADDED)
        goto done;
    /* The event counts once it is in: checked first, so that a decline
     * changes nothing. */
    long long sums[LANES];
    int prepared = totals_prepare((Totals *)entry, lanes, sums);
    if (prepared == 1) {
        status = SLOW;
        goto done;
    }
    int added = remember(t, rid);
    if (added <= 0) {
        if (added == 0)
            t->duplicates++;
        status = added < 0 ? -1 : IGNORED;
        goto done;
    }
    if (totals_commit((Totals *)entry, lanes, sums, prepared) < 0) {
        status = -1;
        goto done;
    }
    t->events++;
    status = ADDED;
    if (++t->ticks >= MAINTAIN_EVERY) {
        t->ticks = 0;
        status = MAINTAIN;
    }
done:
    Py_DECREF(dims);
    Py_XDECREF(entry);
    return status;
}

static PyObject *
Tally_add(Tally *t, PyObject *event)
{
    int status = tally_add(t, event);
    return status < 0 ? NULL : PyLong_FromLong(status);
}

static PyObject *
Tally_handle(Tally *t, PyObject *event)
{
    int status = tally_add(t, event);
    if (status < 0)
        return NULL;
    if (status == SLOW || status == MAINTAIN) {
        PyObject *code = PyLong_FromLong(status);
        if (code == NULL)
            return NULL;
        PyObject *result = PyObject_CallFunctionObjArgs(t->fallback, event, code, NULL);
        Py_DECREF(code);
        if (result == NULL)
            return NULL;
        Py_DECREF(result);
    }
    Py_RETURN_NONE;
}

Py_ssize_t
aievents_slot_offset(PyObject *cls, const char *name)
{
    PyObject *descr = PyObject_GetAttrString(cls, name);
    if (descr == NULL)
        return -1;
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX && !(member->flags & READONLY))
            offset = member->offset;
    }
    Py_DECREF(descr);
    if (offset < 0)
        PyErr_Format(PyExc_TypeError, "%R.%s is not a slot", cls, name);
    return offset;
}

/* An attribute of the series table, as a new reference (NULL with an exception set). */
static PyObject *
table_attr(PyObject *table, const char *name, PyTypeObject *type)
{
    PyObject *value = PyObject_GetAttrString(table, name);
    if (value != NULL && type != NULL && !Py_IS_TYPE(value, type)) {
        PyErr_Format(PyExc_TypeError, "the table's %s must be a %s", name, type->tp_name);
        Py_CLEAR(value);
    }
    if (value != NULL && type == NULL && !PyCallable_Check(value)) {
        PyErr_Format(PyExc_TypeError, "the table's %s must be callable", name);
        Py_CLEAR(value);
    }
    return value;
}

/* Set up a Tally over these parts (borrowed): 0, or -1 with an exception set. */
static int
tally_take(Tally *t, PyObject *event_cls, PyObject *usage_cls, PyObject *cost_cls,
           PyObject *series, PyObject *canonical, PyObject *opened, PyObject *moves,
           PyObject *seen, PyObject *ring, PyObject *ring_at, PyObject *held,
           PyObject *fallback, PyObject *clock, long long retention)
{
    int i;
    if (retention < 0 || retention > 1000000000000LL) {
        PyErr_SetString(PyExc_ValueError, "retention must be minutes from 0 to 10**12");
        return -1;
    }
    /* Into locals first: a second __init__ that fails leaves the Tally as it was. */
    Py_ssize_t event_off[EVENT_SLOTS], usage_off[USAGE_SLOTS], units_off, unpriced_off;
    for (i = 0; i < EVENT_SLOTS; i++) {
        if ((event_off[i] = aievents_slot_offset(event_cls, event_slots[i])) < 0)
            return -1;
    }
    for (i = 0; i < USAGE_SLOTS; i++) {
        if ((usage_off[i] = aievents_slot_offset(usage_cls, usage_slots[i])) < 0)
            return -1;
    }
    if ((units_off = aievents_slot_offset(cost_cls, cost_slots[0])) < 0
        || (unpriced_off = aievents_slot_offset(cost_cls, cost_slots[1])) < 0)
        return -1;
    PyObject *recent = PyDict_New();
    if (recent == NULL)
        return -1;
    Py_XSETREF(t->recent, recent);
    Py_INCREF(event_cls);
    Py_INCREF(usage_cls);
    Py_INCREF(cost_cls);
    Py_INCREF(series);
    Py_INCREF(held);
    Py_INCREF(fallback);
    Py_INCREF(clock);
    Py_INCREF(canonical);
    Py_INCREF(opened);
    Py_INCREF(moves);
    Py_INCREF(seen);
    Py_INCREF(ring);
    Py_INCREF(ring_at);
    memcpy(t->event_off, event_off, sizeof(event_off));
    memcpy(t->usage_off, usage_off, sizeof(usage_off));
    t->units_off = units_off;
    t->unpriced_off = unpriced_off;
    Py_XSETREF(t->fallback, fallback);
    Py_XSETREF(t->clock, clock);
    t->retention = retention;
    Py_XSETREF(t->canonical, canonical);
    Py_XSETREF(t->opened, opened);
    Py_XSETREF(t->moves, moves);
    Py_XSETREF(t->event_cls, event_cls);
    Py_XSETREF(t->usage_cls, usage_cls);
    Py_XSETREF(t->cost_cls, cost_cls);
    Py_XSETREF(t->series, series);
    Py_XSETREF(t->held, held);
    Py_XSETREF(t->seen, seen);
    Py_XSETREF(t->ring, ring);
    Py_XSETREF(t->ring_at, ring_at);
    t->events = t->duplicates = t->ticks = 0;
    t->closed = 0;
    return 0;
}

static int
Tally_init(Tally *t, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"table", "classes", "retention", NULL};
    PyObject *table, *classes;
    long long retention;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!$L:Tally", kwlist, &table, &PyTuple_Type,
                                     &classes, &retention))
        return -1;
    if (PyTuple_GET_SIZE(classes) != 3 || !PyType_Check(PyTuple_GET_ITEM(classes, 0))
        || !PyType_Check(PyTuple_GET_ITEM(classes, 1))
        || !PyType_Check(PyTuple_GET_ITEM(classes, 2))) {
        PyErr_SetString(PyExc_TypeError, "classes must be (event class, usage class, cost class)");
        return -1;
    }
    PyObject *event_cls = PyTuple_GET_ITEM(classes, 0);
    PyObject *usage_cls = PyTuple_GET_ITEM(classes, 1);
    PyObject *cost_cls = PyTuple_GET_ITEM(classes, 2);
    /* The table's parts the tally adds into, and what it calls. */
    PyObject *series = NULL, *canonical = NULL, *opened = NULL, *moves = NULL, *held = NULL;
    PyObject *seen = NULL, *ring = NULL, *ring_at = NULL, *fallback = NULL;
    PyObject *clock = NULL;
    if ((series = table_attr(table, "minutes", &PyDict_Type)) == NULL
        || (canonical = table_attr(table, "canonical", &PyDict_Type)) == NULL
        || (opened = table_attr(table, "opened", &PyList_Type)) == NULL
        || (moves = table_attr(table, "moves", &PyList_Type)) == NULL
        || (seen = table_attr(table, "seen", &PySet_Type)) == NULL
        || (ring = table_attr(table, "ring", &PyList_Type)) == NULL
        || (ring_at = table_attr(table, "ring_at", &PyList_Type)) == NULL
        || (held = table_attr(table, "held", &PyList_Type)) == NULL
        || (fallback = table_attr(table, "take", NULL)) == NULL
        || (clock = table_attr(table, "clock", NULL)) == NULL) {
        Py_XDECREF(series);
        Py_XDECREF(canonical);
        Py_XDECREF(opened);
        Py_XDECREF(moves);
        Py_XDECREF(seen);
        Py_XDECREF(ring);
        Py_XDECREF(ring_at);
        Py_XDECREF(held);
        Py_XDECREF(fallback);
        return -1;
    }
    int done = tally_take(t, event_cls, usage_cls, cost_cls, series, canonical, opened, moves,
                          seen, ring, ring_at, held, fallback, clock, retention);
    Py_DECREF(series);
    Py_DECREF(canonical);
    Py_DECREF(opened);
    Py_DECREF(moves);
    Py_DECREF(seen);
    Py_DECREF(ring);
    Py_DECREF(ring_at);
    Py_DECREF(held);
    Py_DECREF(fallback);
    Py_DECREF(clock);
    return done;
}

static int
Tally_traverse(Tally *t, visitproc visit, void *arg)
{
    Py_VISIT(t->event_cls);
    Py_VISIT(t->usage_cls);
    Py_VISIT(t->cost_cls);
    Py_VISIT(t->series);
    Py_VISIT(t->seen);
    Py_VISIT(t->ring);
    Py_VISIT(t->ring_at);
    Py_VISIT(t->held);
    Py_VISIT(t->fallback);
    Py_VISIT(t->clock);
    Py_VISIT(t->canonical);
    Py_VISIT(t->opened);
    Py_VISIT(t->moves);
    Py_VISIT(t->recent);
    return 0;
}

static int
Tally_clear(Tally *t)
{
    Py_CLEAR(t->event_cls);
    Py_CLEAR(t->usage_cls);
    Py_CLEAR(t->cost_cls);
    Py_CLEAR(t->series);
    Py_CLEAR(t->seen);
    Py_CLEAR(t->ring);
    Py_CLEAR(t->ring_at);
    Py_CLEAR(t->held);
    Py_CLEAR(t->fallback);
    Py_CLEAR(t->clock);
    Py_CLEAR(t->canonical);
    Py_CLEAR(t->opened);
    Py_CLEAR(t->moves);
    Py_CLEAR(t->recent);
    return 0;
}

static void
Tally_dealloc(Tally *t)
{
    PyObject_GC_UnTrack(t);
    Tally_clear(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *
Tally_close(Tally *t, PyObject *Py_UNUSED(unused))
{
    t->closed = 1;
    Py_RETURN_NONE;
}

static PyObject *
Tally_new_entry(PyObject *Py_UNUSED(cls), PyObject *Py_UNUSED(unused))
{
    return totals_new_zero();
}

static PyMethodDef Tally_methods[] = {
    {"new_entry", (PyCFunction)Tally_new_entry, METH_NOARGS | METH_STATIC,
     "A zero entry (a Totals), for the table to open entries this tally adds to."},
    {"add", (PyCFunction)Tally_add, METH_O,
     "Add an event to an existing series: 0 added, 1 ignored (a duplicate, or closed), "
     "2 take the Python path, 3 added and maintenance is due."},
    {"handle", (PyCFunction)Tally_handle, METH_O,
     "Add an event; call fallback(event, status) when it takes the Python path (2) "
     "or maintenance is due (3)."},
    {"close", (PyCFunction)Tally_close, METH_NOARGS, "Ignore every event from now on."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Tally_members[] = {
    {"events", T_PYSSIZET, offsetof(Tally, events), READONLY, "Events added here."},
    {"duplicates", T_PYSSIZET, offsetof(Tally, duplicates), READONLY, "Duplicates ignored here."},
    {"ticks", T_PYSSIZET, offsetof(Tally, ticks), READONLY, "Adds since the last maintenance."},
    {"closed", T_BOOL, offsetof(Tally, closed), READONLY, "Whether events are ignored."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject TallyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aievents._speedups.Tally",
    .tp_doc = PyDoc_STR("Usage totals of an AggregateSink, added to in C."),
    .tp_basicsize = sizeof(Tally),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Tally_init,
    .tp_dealloc = (destructor)Tally_dealloc,
    .tp_traverse = (traverseproc)Tally_traverse,
    .tp_clear = (inquiry)Tally_clear,
    .tp_methods = Tally_methods,
    .tp_members = Tally_members,
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "aievents._speedups",
    .m_doc = "Compiled hot paths of aievents (optional: the pure Python twins do the same).",
    .m_size = -1,
};

/* A tuple of `n` strs. */
static PyObject *
names(const char *const *items, Py_ssize_t n)
{
    PyObject *tuple = PyTuple_New(n);
    if (tuple == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyUnicode_FromString(items[i]);
        if (name == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, name);
    }
    return tuple;
}

/* LAYOUT: {"event", "usage", "cost": the slots read of each class;
 * "dims": the event's slots a series is keyed by, in order;
 * "split", "units": the order of ImageUsage.split and ImageCost.units;
 * "totals": the lanes of an entry (aievents.totals.FIELDS)}. */
static PyObject *
layout(void)
{
    static const struct {
        const char *key;
        const char *const *items;
        Py_ssize_t n;
    } parts[] = {
        {"event", event_slots, EVENT_SLOTS},
        {"dims", event_slots + FIRST_DIM, DIMS},
        {"usage", usage_slots, USAGE_SLOTS},
        {"cost", cost_slots, 2},
        {"split", split_fields, SPLIT_LANES},
        {"units", unit_fields, UNIT_LANES},
        {"totals", totals_fields, LANES},
    };
    PyObject *dict = PyDict_New();
    if (dict == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        PyObject *value = names(parts[i].items, parts[i].n);
        if (value == NULL || PyDict_SetItemString(dict, parts[i].key, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(value);
    }
    return dict;
}

/* Put LAYOUT in the module: 0, or -1 with an exception set. */
static int
add_layout(PyObject *module)
{
    PyObject *value = layout();
    if (value == NULL)
        return -1;
    if (PyModule_AddObject(module, "LAYOUT", value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
}

/* Put a type in the module under `name`: 0, or -1 with an exception set. */
static int
add_type(PyObject *module, const char *name, PyTypeObject *type)
{
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if ((one = PyLong_FromLong(1)) == NULL)
        return NULL;
    if (PyType_Ready(&TallyType) < 0 || PyType_Ready(&TotalsType) < 0
        || PyType_Ready(&RecentType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    if (add_type(module, "Tally", &TallyType) < 0 || add_type(module, "Totals", &TotalsType) < 0
        || add_layout(module) < 0 || aievents_add_screen(module) < 0
        || PyModule_AddIntConstant(module, "ABI", SPEEDUPS_ABI) < 0
        || PyModule_AddStringConstant(module, "SOURCES", SPEEDUPS_SOURCES) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
