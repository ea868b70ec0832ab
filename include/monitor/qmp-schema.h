/* The QMP schema compiled in (generated from qapi/ by scripts/qapi-gen.py). */
#ifndef MONITOR_QMP_SCHEMA_H
#define MONITOR_QMP_SCHEMA_H

/* {"types": {...}, "commands": {...}, "events": {...}}: see qapi-gen.py */
extern const char qapi_schema_check_json[];
/* query-qmp-schema's answer: a list of QEMU SchemaInfo objects */
extern const char qapi_schema_introspection_json[];

#endif
