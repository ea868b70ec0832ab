#!/usr/bin/env python3
"""Turns the QMP schema (qapi/*.json) into C data for monitor/qmp-schema.c.

Each schema file is a sequence of JSON objects, one definition each, with
'#' comment lines between them (the documentation, as in QEMU's QAPI):

  {"enum": "RunState", "data": ["running", "paused"]}
  {"struct": "StatusInfo", "data": {"running": "bool", "*reason": "str"}}
  {"alternate": "StrOrNull", "data": {"s": "str", "n": "null"}}
  {"command": "query-status", "returns": "StatusInfo"}
  {"command": "qom-get", "data": {"path": "str", "property": "str"},
   "returns": "any"}
  {"event": "SHUTDOWN", "data": {"guest": "bool", "reason": "ShutdownCause"}}

A member name starting with '*' is optional; ["T"] is a list of T. A struct
may name a "base" struct whose members come first.

Writes two JSON texts as C strings: the checking form that monitor/qmp.c
validates arguments and results against, and the introspection that
query-qmp-schema returns (QEMU's SchemaInfo list).
"""
import json
import sys

BUILTINS = {
    "str": "string", "bool": "boolean", "number": "number", "null": "null",
    "any": "value", "int": "int", "size": "int",
    "int8": "int", "int16": "int", "int32": "int", "int64": "int",
    "uint8": "int", "uint16": "int", "uint32": "int", "uint64": "int",
}
EMPTY = "q_empty"


def fail(where, msg):
    sys.exit(f"qapi-gen: {where}: {msg}")


def read_definitions(path):
    text = "".join(line if not line.lstrip().startswith("#") else "\n"
                   for line in open(path, encoding="utf-8"))
    dec = json.JSONDecoder()
    pos, out = 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return out
        try:
            obj, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            fail(path, f"not JSON: {e}")
        if not isinstance(obj, dict):
            fail(path, "a definition must be a JSON object")
        obj["_file"] = path
        out.append(obj)


class Schema:
    def __init__(self, defs):
        self.types = {}      # name -> checking form
        self.commands = {}
        self.events = {}
        self.order = []      # entity names in definition order
        self.raw = {}
        for d in defs:
            meta = next((k for k in ("enum", "struct", "alternate",
                                     "command", "event") if k in d), None)
            if meta is None:
                fail(d["_file"], f"unknown definition {d}")
            name = d[meta]
            if name in self.raw or name in BUILTINS:
                fail(d["_file"], f"'{name}' defined twice")
            self.raw[name] = (meta, d)
            self.order.append(name)
        for name in self.order:
            meta, d = self.raw[name]
            if meta == "enum":
                self.types[name] = {"kind": "enum", "values": d["data"]}
            elif meta == "alternate":
                self.types[name] = {"kind": "alternate",
                                    "branches": [self.type_ref(t, d)
                                                 for t in d["data"].values()]}
            elif meta == "struct":
                self.types[name] = {"kind": "struct",
                                    "members": self.members(name, d)}
        for name in self.order:
            meta, d = self.raw[name]
            if meta == "command":
                self.commands[name] = {
                    "args": self.arg_type(name, d),
                    "returns": (self.type_ref(d["returns"], d)
                                if "returns" in d else None)}
            elif meta == "event":
                self.events[name] = {"data": self.arg_type(name, d)}

    def type_ref(self, t, d):
        if isinstance(t, list):
            if len(t) != 1:
                fail(d["_file"], f"bad list type {t}")
            return "[" + self.type_ref(t[0], d) + "]"
        if t not in BUILTINS and (t not in self.raw or
                                  self.raw[t][0] in ("command", "event")):
            fail(d["_file"], f"unknown type '{t}'")
        return t

    def members(self, name, d):
        out = []
        if "base" in d:
            base = d["base"]
            if base not in self.raw or self.raw[base][0] != "struct":
                fail(d["_file"], f"{name}: base '{base}' is not a struct")
            out += self.members(base, self.raw[base][1])
        for key, t in d.get("data", {}).items():
            opt = key.startswith("*")
            out.append({"name": key.lstrip("*"), "type": self.type_ref(t, d),
                        "optional": opt})
        return out

    def arg_type(self, name, d):
        data = d.get("data")
        if data is None:
            return None
        if isinstance(data, str):
            if self.raw.get(data, ("",))[0] != "struct":
                fail(d["_file"], f"{name}: data '{data}' is not a struct")
            return data
        implicit = f"q_obj_{name}-arg"
        self.types[implicit] = {"kind": "struct",
                                "members": self.members(implicit,
                                                        {"data": data,
                                                         "_file": d["_file"]})}
        return implicit

    def checking(self):
        return {"types": self.types, "commands": self.commands,
                "events": self.events}

    # ---- introspection, as QEMU's query-qmp-schema ----
    def introspection(self):
        out, seen = [], set()

        def intro_name(t):
            if t is None:
                return EMPTY
            if t.startswith("["):
                return "[" + intro_name(t[1:-1]) + "]"
            if t in BUILTINS:
                return {"string": "str", "boolean": "bool", "value": "any"
                        }.get(BUILTINS[t], BUILTINS[t])
            return t

        def use(t):
            name = intro_name(t)
            if name in seen:
                return name
            seen.add(name)
            if t is None:
                out.append({"name": EMPTY, "meta-type": "object",
                            "members": []})
            elif t.startswith("["):
                elem = use(t[1:-1])
                out.append({"name": name, "meta-type": "array",
                            "element-type": elem})
            elif t in BUILTINS:
                out.append({"name": name, "meta-type": "builtin",
                            "json-type": BUILTINS[t]})
            else:
                info = self.types[t]
                if info["kind"] == "enum":
                    out.append({"name": name, "meta-type": "enum",
                                "values": info["values"],
                                "members": [{"name": v}
                                            for v in info["values"]]})
                elif info["kind"] == "alternate":
                    entry = {"name": name, "meta-type": "alternate",
                             "members": []}
                    out.append(entry)
                    entry["members"] = [{"type": use(b)}
                                        for b in info["branches"]]
                else:
                    entry = {"name": name, "meta-type": "object",
                             "members": []}
                    out.append(entry)
                    for m in info["members"]:
                        mi = {"name": m["name"], "type": use(m["type"])}
                        if m["optional"]:
                            mi["default"] = None
                        entry["members"].append(mi)
            return name

        for name in self.order:
            meta, _ = self.raw[name]
            if meta == "command":
                c = self.commands[name]
                entry = {"name": name, "meta-type": "command"}
                out.append(entry)
                entry["arg-type"] = use(c["args"])
                entry["ret-type"] = use(c["returns"])
            elif meta == "event":
                entry = {"name": name, "meta-type": "event"}
                out.append(entry)
                entry["arg-type"] = use(self.events[name]["data"])
        return out


def c_string(text):
    lines = []
    for i in range(0, len(text), 72):
        chunk = text[i:i + 72].replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'    "{chunk}"')
    return "\n".join(lines)


def main():
    out_path, inputs = sys.argv[1], sys.argv[2:]
    defs = []
    for path in inputs:
        defs += read_definitions(path)
    schema = Schema(defs)
    check = json.dumps(schema.checking(), separators=(",", ":"))
    intro = json.dumps(schema.introspection(), separators=(",", ":"))
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("/* Generated by scripts/qapi-gen.py from the qapi/ schema files. */\n")
        f.write('#include "monitor/qmp-schema.h"\n\n')
        f.write("const char qapi_schema_check_json[] =\n")
        f.write(c_string(check) + ";\n\n")
        f.write("const char qapi_schema_introspection_json[] =\n")
        f.write(c_string(intro) + ";\n")


if __name__ == "__main__":
    main()
