#!/usr/bin/env python3
"""Renders rustdoc's JSON output of the crate as its public API: one line
per item a user can name, sorted.

Usage: public_api.py RUSTDOC_JSON > public-api.txt
The counts go to stderr.

Each line is `path kind[ details]`. An item reachable by several paths has
one full line at its shortest path (then the first in byte order), where its
members (fields, variants, methods, associated items, trait impls) are
listed, and one `(same as …)` line per other path. Only what a user can name
is listed: private modules, `#[doc(hidden)]` items, blanket and auto-trait
impls, and impls of compiler markers a user cannot name
(`StructuralPartialEq`) are not. Types are written with the last segment
of their path (`Request<Bytes>`), so moving code between modules without changing what is
exported changes nothing here.
"""

import json
import re
import sys

ASYNC_TRAIT_LIFETIMES = ("'life", "'async_trait")
# A constant's value is shown when it is a literal: an expression is source
# text, which may name private paths.
LITERAL = re.compile(r'^(-?[0-9][0-9_]*(\.[0-9_]+)?[a-z0-9]*|"[^"]*"|true|false)$')
# Traits a user cannot name (unstable compiler markers, implemented by a
# derive alongside the trait that matters, which is listed).
UNNAMEABLE_TRAITS = {"StructuralPartialEq"}
SHORT_KIND = {
    "function": "fn",
    "type_alias": "type",
    "constant": "const",
    "module": "mod",
    "proc_macro": "macro",
    "assoc_const": "const",
    "assoc_type": "type",
}


class Api:
    def __init__(self, doc):
        self.index = doc["index"]
        self.root = str(doc["root"])
        self.crate = self.index[self.root]["name"]
        # item id -> list of paths (tuples of segments) a user can name
        self.paths = {}
        # (path, external source) of re-exports of items outside the crate
        self.external = []
        self.root_reexports = 0

    def item(self, item_id):
        return self.index.get(str(item_id))

    @staticmethod
    def kind_of(item):
        return next(iter(item["inner"]))

    # -- walking the module tree ------------------------------------------

    def walk(self, module_id, prefix, depth=0):
        if depth > 16:
            return
        module = self.item(module_id)
        for child_id in module["inner"]["module"]["items"]:
            child = self.item(child_id)
            if child is None:
                continue
            kind = self.kind_of(child)
            if kind == "use":
                self.walk_use(child["inner"]["use"], prefix, depth)
            elif kind != "impl" and child.get("name"):
                self.add(child_id, prefix + (child["name"],), depth)

    def walk_use(self, use, prefix, depth):
        target = self.item(use["id"]) if use["id"] is not None else None
        if use["is_glob"]:
            if target is not None and self.kind_of(target) == "module":
                self.walk(use["id"], prefix, depth + 1)
            elif target is not None and self.kind_of(target) == "enum":
                for variant_id in target["inner"]["enum"]["variants"]:
                    variant = self.item(variant_id)
                    self.add(variant_id, prefix + (variant["name"],), depth)
            else:
                self.external.append((prefix + ("*",), use["source"]))
            return
        if len(prefix) == 1:
            self.root_reexports += 1
        path = prefix + (use["name"],)
        if target is None:
            self.external.append((path, use["source"]))
        else:
            self.add(use["id"], path, depth)

    def add(self, item_id, path, depth):
        item_id = str(item_id)
        known = self.paths.setdefault(item_id, [])
        if path in known:
            return
        known.append(path)
        if self.kind_of(self.item(item_id)) == "module":
            self.walk(item_id, path, depth + 1)

    # -- rendering types ---------------------------------------------------

    def ty(self, t):
        if t is None:
            return "()"
        (kind, v), = t.items()
        if kind == "resolved_path":
            return self.path_name(v)
        if kind == "dyn_trait":
            parts = [self.poly_trait(p) for p in v["traits"]]
            if v.get("lifetime") and not is_async_trait_lifetime(v["lifetime"]):
                parts.append(v["lifetime"])
            return "dyn " + " + ".join(parts)
        if kind == "generic":
            return v
        if kind == "primitive":
            return v
        if kind == "function_pointer":
            sig = v["sig"]
            args = ", ".join(self.ty(a) for _, a in sig["inputs"])
            return "fn(%s)%s" % (args, self.ret(sig["output"]))
        if kind == "tuple":
            inner = ", ".join(self.ty(x) for x in v)
            return "(%s,)" % inner if len(v) == 1 else "(%s)" % inner
        if kind == "slice":
            return "[%s]" % self.ty(v)
        if kind == "array":
            return "[%s; %s]" % (self.ty(v["type"]), v["len"])
        if kind == "impl_trait":
            return "impl " + self.bounds(v)
        if kind == "infer":
            return "_"
        if kind == "raw_pointer":
            return "*%s %s" % ("mut" if v["is_mutable"] else "const", self.ty(v["type"]))
        if kind == "borrowed_ref":
            lifetime = v.get("lifetime")
            lt = "" if not lifetime or is_async_trait_lifetime(lifetime) else lifetime + " "
            return "&%s%s%s" % (lt, "mut " if v["is_mutable"] else "", self.ty(v["type"]))
        if kind == "qualified_path":
            self_type = self.ty(v["self_type"])
            if v.get("trait"):
                base = "<%s as %s>" % (self_type, self.path_name(v["trait"]))
            else:
                base = self_type
            return base + "::" + v["name"] + self.args(v.get("args"))
        if kind == "pat":
            return self.ty(v["type"])
        return kind

    def path_name(self, p):
        name = p["path"].split("::")[-1]
        return name + self.args(p.get("args"))

    def args(self, args):
        if not args:
            return ""
        (kind, v), = args.items()
        if kind == "angle_bracketed":
            parts = []
            for a in v["args"]:
                (k, x), = a.items()
                if k == "lifetime":
                    if not is_async_trait_lifetime(x):
                        parts.append(x)
                elif k == "type":
                    parts.append(self.ty(x))
                elif k == "const":
                    parts.append(x.get("expr") or "_")
                else:
                    parts.append("_")
            for c in v.get("constraints", []):
                name = c["name"] + self.args(c.get("args"))
                binding = c["binding"]
                if "equality" in binding:
                    term = binding["equality"]
                    value = self.ty(term["type"]) if "type" in term else str(term.get("constant"))
                    parts.append("%s = %s" % (name, value))
                else:
                    parts.append("%s: %s" % (name, self.bounds(binding["constraint"])))
            return "<%s>" % ", ".join(parts) if parts else ""
        if kind == "parenthesized":
            inputs = ", ".join(self.ty(x) for x in v["inputs"])
            return "(%s)%s" % (inputs, self.ret(v.get("output")))
        return ""

    def ret(self, output):
        return "" if output is None else " -> " + self.ty(output)

    def poly_trait(self, p):
        hrtb = self.hrtb(p.get("generic_params"))
        return hrtb + self.path_name(p["trait"])

    def hrtb(self, params):
        names = [g["name"] for g in params or []]
        return "for<%s> " % ", ".join(names) if names else ""

    def bounds(self, bounds):
        parts = []
        for b in bounds:
            (kind, v), = b.items()
            if kind == "trait_bound":
                modifier = {"maybe": "?", "maybe_const": "~const "}.get(v.get("modifier"), "")
                parts.append(modifier + self.hrtb(v.get("generic_params")) + self.path_name(v["trait"]))
            elif kind == "outlives":
                if not is_async_trait_lifetime(v):
                    parts.append(v)
            elif kind == "use":
                parts.append("use<%s>" % ", ".join(str(x) for x in v))
        return " + ".join(parts)

    def generics(self, g):
        params = []
        for p in g["params"]:
            (kind, v), = p["kind"].items()
            if is_async_trait_lifetime(p["name"]):
                continue
            if kind == "lifetime":
                params.append(p["name"] + (": " + " + ".join(v["outlives"]) if v["outlives"] else ""))
            elif kind == "type":
                if v.get("is_synthetic"):
                    continue
                bounds = self.bounds(v["bounds"])
                params.append(p["name"] + (": " + bounds if bounds else ""))
            elif kind == "const":
                params.append("const %s: %s" % (p["name"], self.ty(v["type"])))
        return "<%s>" % ", ".join(params) if params else ""

    def where(self, g):
        preds = []
        for w in g["where_predicates"]:
            (kind, v), = w.items()
            if kind == "bound_predicate":
                bounds = self.bounds(v["bounds"])
                if bounds:
                    preds.append("%s%s: %s" % (self.hrtb(v.get("generic_params")), self.ty(v["type"]), bounds))
            elif kind == "lifetime_predicate":
                if not is_async_trait_lifetime(v["lifetime"]):
                    preds.append("%s: %s" % (v["lifetime"], " + ".join(v["outlives"])))
            elif kind == "eq_predicate":
                rhs = v["rhs"]
                value = self.ty(rhs["type"]) if "type" in rhs else str(rhs.get("constant"))
                preds.append("%s = %s" % (self.ty(v["lhs"]), value))
        return " where " + ", ".join(preds) if preds else ""

    def signature(self, f):
        sig, header = f["sig"], f["header"]
        output = sig["output"]
        is_async = header["is_async"]
        awaited = async_trait_output(output)
        if awaited is not None:
            is_async, output = True, awaited
        args = []
        for name, t in sig["inputs"]:
            if name == "self":
                args.append(self.self_arg(t))
            else:
                # A destructuring pattern (`State(receiver): State<…>`)
                # is named `__arg0` by rustdoc.
                args.append("%s: %s" % ("_" if name.startswith("__arg") else name, self.ty(t)))
        prefix = "".join(
            word + " "
            for word, on in (("const", header["is_const"]), ("async", is_async), ("unsafe", header["is_unsafe"]))
            if on
        )
        ret = "" if output is None or output == {"tuple": []} else " -> " + self.ty(output)
        return "%sfn%s(%s)%s%s" % (prefix, self.generics(f["generics"]), ", ".join(args), ret, self.where(f["generics"]))

    def self_arg(self, t):
        if t == {"generic": "Self"}:
            return "self"
        if "borrowed_ref" in t and t["borrowed_ref"]["type"] == {"generic": "Self"}:
            v = t["borrowed_ref"]
            lifetime = v.get("lifetime")
            lt = "" if not lifetime or is_async_trait_lifetime(lifetime) else lifetime + " "
            return "&%s%sself" % (lt, "mut " if v["is_mutable"] else "")
        return "self: " + self.ty(t)

    # -- lines -------------------------------------------------------------

    def describe(self, item):
        """The kind and details of an item (without its members)."""
        kind = self.kind_of(item)
        v = item["inner"][kind]
        attrs = " #[non_exhaustive]" if any("non_exhaustive" in str(a) for a in item.get("attrs", [])) else ""
        if kind == "function":
            return self.signature(v)
        if kind == "struct":
            shape = v["kind"]
            if shape == "unit":
                body = ";"
            elif "tuple" in shape:
                fields = [self.ty(self.item(f)["inner"]["struct_field"]) if f is not None else "_" for f in shape["tuple"]]
                body = "(%s)" % ", ".join(fields)
            else:
                body = " {..}" if shape["plain"]["has_stripped_fields"] else " {}"
            return "struct%s%s%s%s" % (self.generics(v["generics"]), body, self.where(v["generics"]), attrs)
        if kind == "enum":
            return "enum%s%s%s" % (self.generics(v["generics"]), self.where(v["generics"]), attrs)
        if kind == "union":
            return "union%s" % self.generics(v["generics"])
        if kind == "trait":
            bounds = self.bounds(v["bounds"])
            return "%strait%s%s%s" % (
                "unsafe " if v.get("is_unsafe") else "",
                self.generics(v["generics"]),
                ": " + bounds if bounds else "",
                self.where(v["generics"]),
            )
        if kind == "type_alias":
            return "type%s = %s" % (self.generics(v["generics"]), self.ty(v["type"]))
        if kind == "constant":
            return "const: %s%s" % (self.ty(v["type"]), literal(v["const"]["expr"]))
        if kind == "static":
            return "static%s: %s" % (" mut" if v.get("is_mutable") else "", self.ty(v["type"]))
        if kind == "assoc_const":
            return "const: %s%s" % (self.ty(v["type"]), literal(v.get("value")))
        if kind == "assoc_type":
            bounds = self.bounds(v.get("bounds", []))
            default = " = " + self.ty(v["type"]) if v.get("type") else ""
            return "type%s%s%s" % (self.generics(v["generics"]), ": " + bounds if bounds else "", default)
        if kind == "struct_field":
            return "field: " + self.ty(v)
        if kind == "variant":
            shape = v["kind"]
            if shape == "plain":
                return "variant"
            if "tuple" in shape:
                fields = [self.ty(self.item(f)["inner"]["struct_field"]) if f is not None else "_" for f in shape["tuple"]]
                return "variant(%s)" % ", ".join(fields)
            fields = [
                "%s: %s" % (self.item(f)["name"], self.ty(self.item(f)["inner"]["struct_field"]))
                for f in shape["struct"]["fields"]
            ]
            return "variant { %s%s }" % (", ".join(fields), ", .." if shape["struct"]["has_stripped_fields"] else "")
        if kind == "module":
            return "mod"
        if kind in ("macro", "proc_macro"):
            return "macro"
        return kind

    def members(self, item_id, path, lines, counted):
        """Lines for the members of the item at its canonical path."""
        item = self.item(item_id)
        kind = self.kind_of(item)
        v = item["inner"][kind]
        name = "::".join(path)
        children = []
        if kind == "struct":
            shape = v["kind"]
            if isinstance(shape, dict) and "plain" in shape:
                children += shape["plain"]["fields"]
            elif isinstance(shape, dict) and "tuple" in shape:
                children += [f for f in shape["tuple"] if f is not None]
        if kind == "enum":
            children += v["variants"]
        if kind == "trait":
            children += v["items"]
            for impl_id in v.get("implementations", []):
                impl = self.item(impl_id)
                if impl is None:
                    continue
                i = impl["inner"]["impl"]
                for_type = i["for"]
                local = "resolved_path" in for_type and str(for_type["resolved_path"]["id"]) in self.paths
                if local or i.get("is_synthetic") or i.get("blanket_impl"):
                    continue
                lines.append(
                    "%s impl%s for %s%s"
                    % (name, self.generics(i["generics"]), self.ty(for_type), self.where(i["generics"]))
                )
        for child_id in children:
            child = self.item(child_id)
            if child is None:
                continue
            provided = kind == "trait" and child["inner"].get("function", {}).get("has_body")
            lines.append("%s::%s %s%s" % (name, child["name"], self.describe(child), " (provided)" if provided else ""))
            counted.add(str(child_id))
        for impl_id in v.get("impls", []):
            impl = self.item(impl_id)
            if impl is None:
                continue
            i = impl["inner"]["impl"]
            if i.get("is_synthetic") or i.get("blanket_impl"):
                continue
            if i.get("trait") is None:
                for child_id in i["items"]:
                    child = self.item(child_id)
                    if child is None or not child.get("name"):
                        continue
                    lines.append("%s::%s %s" % (name, child["name"], self.describe(child)))
                    counted.add(str(child_id))
            elif self.path_name(i["trait"]) in UNNAMEABLE_TRAITS:
                continue
            else:
                negative = "!" if i.get("is_negative") else ""
                lines.append("%s impl%s %s%s%s" % (name, self.generics(i["generics"]), negative, self.path_name(i["trait"]), self.where(i["generics"])))

    def render(self):
        self.walk(self.root, (self.crate,))
        lines = []
        counted = set()
        for item_id, paths in self.paths.items():
            paths.sort(key=lambda p: (len(p), p))
            canonical = paths[0]
            item = self.item(item_id)
            described = self.describe(item)
            lines.append("%s %s" % ("::".join(canonical), described))
            counted.add(item_id)
            for other in paths[1:]:
                kind = self.kind_of(item)
                lines.append("%s %s (same as %s)" % ("::".join(other), SHORT_KIND.get(kind, kind), "::".join(canonical)))
            self.members(item_id, canonical, lines, counted)
        for path, source in self.external:
            lines.append("%s re-export of %s" % ("::".join(path), source))
        lines = sorted(set(lines))
        kinds = [self.kind_of(self.item(i)) for i in counted]
        counts = {
            "types and traits": sum(k in ("struct", "enum", "union", "trait", "type_alias") for k in kinds),
            "functions and methods": sum(k == "function" for k in kinds),
            "root re-exports": self.root_reexports,
            "items with more than one path": sum(len(p) > 1 for p in self.paths.values()),
            "lines": len(lines),
        }
        return lines, counts


def literal(expr):
    return " = " + expr if expr and LITERAL.match(expr) else ""


def is_async_trait_lifetime(name):
    return isinstance(name, str) and name.startswith(ASYNC_TRAIT_LIFETIMES)


def async_trait_output(output):
    """The `X` of `Pin<Box<dyn Future<Output = X> + Send + 'async_trait>>`
    (what `#[async_trait]` makes of `async fn … -> X`), else None."""
    try:
        pin = output["resolved_path"]
        if not pin["path"].endswith("Pin"):
            return None
        boxed = pin["args"]["angle_bracketed"]["args"][0]["type"]["resolved_path"]
        dyn = boxed["args"]["angle_bracketed"]["args"][0]["type"]["dyn_trait"]
        if dyn.get("lifetime") != "'async_trait":
            return None
        future = dyn["traits"][0]["trait"]
        constraint = future["args"]["angle_bracketed"]["constraints"][0]
        return constraint["binding"]["equality"]["type"]
    except (KeyError, IndexError, TypeError):
        return None


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    lines, counts = Api(doc).render()
    sys.stdout.write("".join(line + "\n" for line in lines))
    for name, count in counts.items():
        print("%s: %d" % (name, count), file=sys.stderr)


if __name__ == "__main__":
    main()
