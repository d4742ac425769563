/*
 * What the C files of aievents._speedups share (one extension module):
 * _speedups.c (the Tally, the module) and _screen.c (the secrets' screen).
 */
#ifndef AIEVENTS_SPEEDUPS_H
#define AIEVENTS_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The object in a slot at a byte offset (borrowed), or NULL when unset. */
static inline PyObject *
slot(PyObject *obj, Py_ssize_t offset)
{
    return *(PyObject **)((char *)obj + offset);
}

/* The byte offset of the slot `name` of `cls`, or -1 with TypeError. */
Py_ssize_t aievents_slot_offset(PyObject *cls, const char *name);

/* Put suspect() and the Screen type in the module: 0, or -1 with an
 * exception set. */
int aievents_add_screen(PyObject *module);

#endif
