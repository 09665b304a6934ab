#!/usr/bin/env python3
"""Checks one Python block of the docs against the SDK in python/ (run by DocSnippetTests).

    check-doc-python.py [--run] FILE
    check-doc-python.py --signature MODULE.NAME FILE

Without --signature the block is compiled; then every name it uses must be defined by it (or be
a builtin, or `client`, which blocks use for a TitanClient made earlier), every name it imports
from titan_sdk must exist, and every call of TitanClient(...), TitanJob(...) and of a method on a
client must match the SDK's signature. With --run it is then run as a script in a temporary
directory (a master at $TITAN_MASTER, the SDK on PYTHONPATH). With --signature the block is a call-shaped signature,
`NAME(a, b=1, *, c=None)`, compared with the real one: names, order, kinds and defaults.

Each problem is printed as `LINE: message` (LINE counts from the block's first line); the exit
status is 1 if there was any.
"""

import ast
import builtins
import dataclasses
import inspect
import os
import sys
import tempfile


def fail(problems):
    for line, message in problems:
        print(f"{line}: {message}")
    sys.exit(1 if problems else 0)


def check_signature(source, qualified):
    module_name, _, name = qualified.rpartition(".")
    module = __import__(module_name, fromlist=[name])
    actual = inspect.signature(getattr(module, name))
    text = source.strip()
    if not text.startswith(name + "("):
        return [(1, f"a signature block must start with '{name}('")]
    try:
        tree = ast.parse("def " + text + ": pass")
    except SyntaxError as e:
        return [(e.lineno or 1, f"not a signature: {e.msg}")]
    args = tree.body[0].args
    documented = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults):
        documented.append((arg.arg, "positional", default, arg.lineno))
    if args.vararg:
        documented.append((args.vararg.arg, "*args", None, args.vararg.lineno))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        documented.append((arg.arg, "keyword-only", default, arg.lineno))
    if args.kwarg:
        documented.append((args.kwarg.arg, "**kwargs", None, args.kwarg.lineno))
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional", inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.VAR_POSITIONAL: "*args", inspect.Parameter.KEYWORD_ONLY: "keyword-only",
        inspect.Parameter.VAR_KEYWORD: "**kwargs",
    }
    target = getattr(module, name)
    factories = {f.name: f.default_factory for f in dataclasses.fields(target)
                 if f.default_factory is not dataclasses.MISSING} if dataclasses.is_dataclass(target) else {}
    # A dataclass field made by a factory shows as <factory>: compare what the factory makes.
    real = [(p.name, kinds[p.kind], factories[p.name]() if p.name in factories else p.default)
            for p in actual.parameters.values()]
    problems = []
    real_names = [r[0] for r in real]
    doc_names = [d[0] for d in documented]
    for name_ in real_names:
        if name_ not in doc_names:
            problems.append((1, f"{qualified} has a parameter '{name_}' the docs leave out"))
    for doc_name, kind, default, line in documented:
        if doc_name not in real_names:
            problems.append((line, f"{qualified} has no parameter '{doc_name}'"))
            continue
        _, real_kind, real_default = real[real_names.index(doc_name)]
        if kind != real_kind:
            problems.append((line, f"'{doc_name}' is {real_kind} in {qualified}, {kind} in the docs"))
        if default is None:
            if real_default is not inspect.Parameter.empty and kind in ("positional", "keyword-only"):
                problems.append((line, f"'{doc_name}' has the default {real_default!r} in {qualified}; the docs give none"))
            continue
        try:
            value = ast.literal_eval(default)
        except ValueError:
            continue  # an expression the docs abbreviate (e.g. a sentinel): not compared
        if real_default is inspect.Parameter.empty:
            problems.append((line, f"'{doc_name}' has no default in {qualified}; the docs give {value!r}"))
        elif value != real_default or type(value) is not type(real_default):
            problems.append((line, f"'{doc_name}' defaults to {real_default!r} in {qualified}; the docs say {value!r}"))
    if [n for n in doc_names if n in real_names] != [n for n in real_names if n in doc_names]:
        problems.append((1, f"the parameters are in another order in {qualified}: {', '.join(real_names)}"))
    return problems


class Names(ast.NodeVisitor):
    """Names a block binds and names it reads (flat: a doc block is small, scopes are not tracked)."""

    def __init__(self):
        self.bound = set()
        self.used = []

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.bound.add(node.id)
        else:
            self.used.append((node.id, node.lineno))

    def visit_arg(self, node):
        self.bound.add(node.arg)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.bound.add(node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_ClassDef = visit_FunctionDef

    def visit_Import(self, node):
        for alias in node.names:
            self.bound.add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node):
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)


def check_calls(tree, problems):
    from titan_sdk import TitanClient, TitanJob

    classes = {"TitanClient": TitanClient, "TitanJob": TitanJob}
    # An instance that never connects (connections are made on first use), to see attributes
    # __init__ sets as well as methods and properties.
    client = TitanClient("127.0.0.1:1", tls_ca="", token="")

    def constructed(value):
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "TitanClient"

    clients = {"client"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and constructed(node.value):
            clients.update(t.id for t in node.targets if isinstance(t, ast.Name))
        if isinstance(node, ast.With):
            for item in node.items:
                if constructed(item.context_expr) and isinstance(item.optional_vars, ast.Name):
                    clients.add(item.optional_vars.id)
        if isinstance(node, ast.ImportFrom) and node.module in ("titan_sdk", "titan_sdk.titan_sdk"):
            module = __import__(node.module, fromlist=["*"])
            for alias in node.names:
                if not hasattr(module, alias.name):
                    problems.append((node.lineno, f"{node.module} has no '{alias.name}'"))

    def bind(signature, call, what):
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return
        try:
            signature.bind(*[None] * len(call.args), **{k.arg: None for k in call.keywords})
        except TypeError as e:
            problems.append((call.lineno, f"{what}: {e}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes:
            bind(inspect.signature(classes[node.func.id]), node, node.func.id + "(...)")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in clients:
            if not hasattr(client, node.attr):
                problems.append((node.lineno, f"TitanClient has no '{node.attr}'"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in clients
                and callable(getattr(client, node.func.attr, None))):
            bind(inspect.signature(getattr(client, node.func.attr)), node, f"TitanClient.{node.func.attr}(...)")


def main():
    args = sys.argv[1:]
    run = "--run" in args
    signature = None
    if "--signature" in args:
        signature = args[args.index("--signature") + 1]
        args.remove("--signature")
        args.remove(signature)
    args = [a for a in args if a != "--run"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path = args[0]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    if signature:
        fail(check_signature(source, signature))
    try:
        tree = ast.parse(source, path)
        code = compile(tree, path, "exec")
    except SyntaxError as e:
        fail([(e.lineno or 1, f"does not compile: {e.msg}")])
    problems = []
    names = Names()
    names.visit(tree)
    for name, line in names.used:
        if name not in names.bound and name != "client" and not hasattr(builtins, name):
            problems.append((line, f"'{name}' is not defined in the block (an import missing?)"))
    check_calls(tree, problems)
    if problems or not run:
        fail(problems)
    # Run where it can write what it likes (a download, a file to upload), then clean up.
    with tempfile.TemporaryDirectory(prefix="titan-doc-block-") as directory:
        os.chdir(directory)
        sys.argv = [path]
        exec(code, {"__name__": "__main__", "__file__": path})


if __name__ == "__main__":
    main()
